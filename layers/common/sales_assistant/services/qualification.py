"""Qualification: the lead fields n8n may fill with a `set_fields` action, what n8n is told of them, and each
value checked against the field's type in Kommo before it is written.

QUALIFICATION_FIELDS names the fields (a name n8n uses -> a Kommo lead field id). Their definitions (type, list
values) come from Kommo's lead fields list, kept DEFINITIONS_SECONDS in the process, so a field changed in
Kommo's settings is seen within minutes. A value is written as Kommo takes it: a list field's (select,
multiselect) by the `enum_id` of the value whose text it is (case and accents ignored), a number as a number,
a date (YYYY-MM-DD) as the unix time of noon UTC that day (the same date in every Brazilian zone), a text
within its field's length. Any other type, an unknown name or a value that does not fit is not written: it
becomes one line of the note on the lead saying why.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sales_assistant import timing
from sales_assistant.errors import DependencyError
from sales_assistant.models.kommo import FieldValue, LeadField
from sales_assistant.models.n8n import QualificationField
from sales_assistant.observability import logger
from sales_assistant.services.ports.kommo import LeadFieldList
from sales_assistant.texts import Texts

DEFINITIONS_SECONDS = 300
LIST_TYPES = ("select", "multiselect")
TEXT_CHARS = {"text": 256, "textarea": 1000}  # the longest text written into a field of each text type
SHOWN_CHARS = 100  # a value as the note on the lead shows it
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE_NUMBER = re.compile(r"-?\d{1,15}")  # a number given as text: digits only ("1.500" could be 1500 or 1.5)


@dataclass
class CheckedFields:
    """What a `set_fields` action may write (field id -> its values) and one line per field for the note."""

    values: dict[int, list[FieldValue]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


class Qualification:
    """The fields of QUALIFICATION_FIELDS as Kommo defines them."""

    def __init__(
        self,
        kommo: LeadFieldList,
        fields: Mapping[str, int],
        texts: Texts,
        clock: Callable[[], float] = timing.monotonic,
    ) -> None:
        self._kommo = kommo
        self._fields = dict(fields)
        self._texts = texts
        self._clock = clock
        self._kept: tuple[float, dict[int, LeadField]] | None = None

    def offered(self) -> list[QualificationField]:
        """What n8n is told it may fill: each configured field Kommo has, of a type written here (none while
        Kommo cannot list its fields: the answer is not held up for them)."""
        if not self._fields:
            return []
        try:
            definitions = self._definitions()
        except DependencyError:
            logger.warning("lead fields not listed: n8n is offered none this time")
            return []
        offered = []
        for name, field_id in self._fields.items():
            known = definitions.get(field_id)
            if known is not None and known.type in WRITTEN_TYPES:
                values = [enum.value for enum in known.enums or []] if known.type in LIST_TYPES else []
                offered.append(
                    QualificationField.model_validate(
                        {"name": name, "type": known.type, "values": values, "max_length": TEXT_CHARS.get(known.type)}
                    )
                )
        return offered

    def check(self, given: Mapping[str, object]) -> CheckedFields:
        """The values of a `set_fields` action that fit their fields, and a line per field, written or not."""
        definitions = self._definitions() if self._fields.keys() & given.keys() else {}
        checked = CheckedFields()
        for name, value in given.items():
            known = definitions.get(self._fields.get(name, 0))
            if known is None:
                reason = self._texts.render("field_unknown" if name not in self._fields else "field_missing")
                checked.lines.append(self._texts.render("change_field_refused", field=name, reason=reason))
                continue
            written = self._written(known, value)
            if isinstance(written, str):
                checked.lines.append(self._texts.render("change_field_refused", field=known.name, reason=written))
                continue
            checked.values[known.id] = written
            shown = ", ".join(str(item.value) for item in written) if known.type in LIST_TYPES else _shown(value)
            checked.lines.append(self._texts.render("change_field", field=known.name, value=shown))
        return checked

    def forget(self) -> None:
        """Read the definitions anew next time (Kommo refused a write: a field or a list value changed)."""
        self._kept = None

    def _definitions(self) -> dict[int, LeadField]:
        kept, now = self._kept, self._clock()
        if kept is None or now - kept[0] >= DEFINITIONS_SECONDS:
            kept = (now, {known.id: known for known in self._kommo.lead_fields()})
            self._kept = kept
        return kept[1]

    def _written(self, known: LeadField, value: object) -> list[FieldValue] | str:
        """The values Kommo takes for `value` in this field, or why it does not fit (the reason, in words)."""
        if known.type in LIST_TYPES:
            return self._options(known, value)
        if known.type in TEXT_CHARS:
            text = str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
            if 0 < len(text) <= TEXT_CHARS[known.type]:
                return [FieldValue(value=text)]
            return self._texts.render("field_text_refused", max=TEXT_CHARS[known.type])
        parse = _PARSERS.get(known.type)
        if parse is None:
            return self._texts.render("field_type_refused", type=known.type)
        parsed = parse(value)
        if parsed is None:
            return self._texts.render(f"field_not_{known.type}", value=_shown(value))
        return [FieldValue(value=parsed)]

    def _options(self, known: LeadField, value: object) -> list[FieldValue] | str:
        """A list field's value (a multiselect's: one or several) as the enum ids of the values named."""
        enums = {_folded(enum.value): enum for enum in known.enums or []}
        names = value if isinstance(value, list) and known.type == "multiselect" else [value]
        chosen = [enums.get(_folded(name)) if isinstance(name, str) else None for name in names]
        if not chosen or None in chosen:
            options = _shown(", ".join(enum.value for enum in known.enums or []), 300)
            return self._texts.render("field_not_an_option", value=_shown(value), options=options)
        unique = {enum.id: enum for enum in chosen if enum is not None}
        return [FieldValue(value=enum.value, enum_id=enum.id) for enum in unique.values()]


def _number(value: object) -> int | float | None:
    """A JSON number, or a whole number given as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _unix_date(value: object) -> int | None:
    """A date YYYY-MM-DD as the unix time of noon UTC that day."""
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return int(datetime.combine(day, time(12), tzinfo=UTC).timestamp())


_PARSERS: dict[str, Callable[[object], int | float | None]] = {"numeric": _number, "date": _unix_date}
WRITTEN_TYPES = frozenset({*LIST_TYPES, *TEXT_CHARS, *_PARSERS})  # QualificationField.type: any other is refused


def _folded(text: str) -> str:
    """A list value as compared: accents, case and repeated spaces ignored."""
    plain = "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
    return " ".join(plain.casefold().split())


def _shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A value as the note on the lead shows it: a list's items joined, cut at `limit` characters."""
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
