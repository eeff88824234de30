"""The dialogue test set (n8n/evals/*.toml): one scripted conversation per file, read into pydantic models.

A dialogue names a client persona, the lead (one of the local run's seeded leads, so that the scheduling
tools find it), the client's turns, what must hold after each turn (`expect`), a rubric for a judge model,
and, per turn, what the scripted chat model plays (`model`: tool calls, then a text). docs/evals.md
describes the format.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ROOT = Path(__file__).resolve().parents[2]
DIALOGUES = ROOT / "n8n" / "evals"
Language = Literal["pt", "en", "es"]
# What the set must cover (issue 25): a dialogue names the categories it covers in `covers`.
REQUIRED_CATEGORIES = (
    "price_from_playbook",
    "price_not_in_playbook",
    "qualification",
    "booking",
    "reschedule",
    "human_asked",
    "complaint",
    "off_topic",
    "jailbreak",
    "english",
    "spanish",
    "opt_out",
)
MIN_DIALOGUES = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lead(_Strict):
    id: int = Field(gt=0, description="a lead of local/kommo_seed.py (the scheduling tools look it up)")
    name: str
    area: str = Field(description="the lead's area: the playbook rows of this area (and of '') apply")
    fields: dict[str, str] = {}
    contact: str = Field(description="the client's name as in Kommo")
    contact_id: int = Field(gt=0)
    vendor_id: int | None = Field(None, gt=0, description="the responsible salesperson (None: no salesperson)")
    vendor_name: str = ""


class Qualification(_Strict):
    """A lead field the assistant may fill (the contract's QualificationField)."""

    name: str
    type: Literal["select", "multiselect", "numeric", "date", "text", "textarea"]
    values: list[str] = []
    max_length: int | None = None


class ModelStep(_Strict):
    """One completion of the scripted model: a call of `tool` with `arguments`, or a `text`.

    Placeholders filled from what the tools answered earlier in the turn: {now} and {week} (now and in 7
    days, ISO 8601), {slot:N} (the N-th free slot of the last check_availability), {hold} (the last
    hold_slot's id), {appointment} (the first appointment of the last my_appointments), {price} (the first
    price in the last search_playbook answer), {entry} (the id of its first entry)."""

    tool: str = ""
    arguments: dict[str, Any] | None = None
    text: str = ""

    @model_validator(mode="after")
    def _one_thing(self) -> ModelStep:
        if bool(self.tool) == bool(self.text):
            raise ValueError("a model step is a tool call or a text, not both")
        return self


class Expect(_Strict):
    """What must hold after a turn (every key is optional; the always-on checks are in checks.py)."""

    tools: list[str] = Field([], description="tools the assistant must have called in this turn")
    forbidden_tools: list[str] = Field([], description="tools it must not have called ('*': none at all)")
    tool_args: dict[str, dict[str, Any]] = Field(
        {}, description="tool -> argument -> value: a text must be contained (case and accents ignored), '*' any"
    )
    fields: dict[str, Any] = Field({}, description="set_fields values the answer must carry")
    no_fields: bool = Field(False, description="the answer sets no field")
    handover: bool | None = Field(None, description="a handover action must be (True) or must not be (False) there")
    states_price: bool | None = Field(
        None, description="True: the answer states a price; False: no price, percentage or term at all"
    )
    cites_playbook: bool = Field(False, description="the answer's playbook_ids name entries of the lead's area")
    mentions_any: list[str] = Field([], description="the answer contains one of these (case and accents ignored)")
    never_mentions: list[str] = Field([], description="the answer contains none of these (the instructions, ...)")
    tools_succeeded: list[str] = Field([], description="tools whose answer in this turn is no error (reachable)")
    max_chars: int = Field(600, gt=0)


class Turn(_Strict):
    client: str = Field(min_length=1)
    expect: Expect = Expect()
    judge: str = Field("", description="what a judge model checks in this answer (the rubric's turn part)")
    model: list[ModelStep] = Field(min_length=1, description="what the scripted chat model plays")


# The lead fields the service lets the assistant fill (QUALIFICATION_FIELDS), as the sample playbook's
# qualification questions name them (n8n/supabase/playbook/playbook_qualification.csv).
TEAM_FIELDS = [
    Qualification(name="valor_credito", type="numeric"),
    Qualification(name="orcamento", type="numeric"),
    Qualification(name="interesse", type="select", values=["Carro", "Moto", "Caminhão"]),
    Qualification(name="cidade", type="text", max_length=256),
]


class Dialogue(_Strict):
    id: str
    title: str
    covers: list[str] = Field(min_length=1)
    persona: str
    language: Language = "pt"
    rubric: str = Field(min_length=1, description="what a judge model checks in every answer")
    lead: Lead
    qualification: list[Qualification] | None = Field(
        None, description="the lead fields set_fields may fill (the request's qualification); default: TEAM_FIELDS"
    )
    turns: list[Turn] = Field(min_length=1)

    def fields_to_fill(self) -> list[Qualification]:
        return TEAM_FIELDS if self.qualification is None else self.qualification


def load(path: Path) -> Dialogue:
    """A dialogue file; its id is the file's name unless it gives one. An error names the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Dialogue.model_validate(data | {"id": data.get("id", path.stem)})
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise ValueError(f"{path.name}: {error}") from error


def load_all(folder: Path = DIALOGUES, only: str = "") -> list[Dialogue]:
    """Every dialogue of the set (sorted by file name); `only`: those whose id contains it."""
    dialogues = [load(path) for path in sorted(folder.glob("*.toml"))]
    return [dialogue for dialogue in dialogues if only in dialogue.id]
