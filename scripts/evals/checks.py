"""The mechanical checks of one answer of the dialogue set: no n8n, no model, no database here.

Every answer gets: a valid signed answer (status 200 and the contract), no price, percentage or term that
the playbook rows of the lead's area do not state, its length, no markdown, its language. Then what the
dialogue's turn expects (scripts/evals/dialogues.py `Expect`): tools called and their arguments, fields
set, handover, a price stated or none, playbook entries cited, words mentioned.

A check is passed (True), failed (False) or not computable (None, with the reason): a figure check without
a playbook in the database cannot say anything, and says so.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from sales_assistant.models.n8n import N8nResponse
from scripts.evals.dialogues import Expect

# A figure the assistant may state only when the playbook states it: money, a percentage, a term.
NUMBER = r"(\d[\d.,]*\d|\d)"
THOUSAND = r"(\s?mil\b)?"
MONEY_BEFORE = re.compile(rf"(?:R\$|US\$|U\$|€|\$)\s?{NUMBER}{THOUSAND}", re.IGNORECASE)
MONEY_AFTER = re.compile(rf"\b{NUMBER}{THOUSAND}\s?(?:reais|real|d[oó]lares|dollars?|euros?|pesos)\b", re.IGNORECASE)
PERCENT = re.compile(rf"\b{NUMBER}\s?(?:%|por\s?cento\b|percent\b|por\s?ciento\b)", re.IGNORECASE)
TERM = re.compile(
    rf"\b{NUMBER}\s?(?:x(?=\W|$)|vezes\b|parcelas?\b|presta[cç][oõ]es\b|meses\b|m[eê]s\b|anos?\b|months?\b|years?\b|"
    r"installments?\b|cuotas?\b|a[nñ]os?\b)",
    re.IGNORECASE,
)
MARKDOWN = re.compile(r"\*\*|__|`|^\s*#{1,6}\s|^\s*[-*+•]\s|\[[^\]]+\]\([^)]+\)", re.MULTILINE)
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Words that tell the three languages of the set apart (short answers: a few are enough).
PORTUGUESE = (
    "não você vocês é são com uma do da dos das no na ao aos obrigado obrigada olá seu sua seus suas posso também "
    "isso muito mas em e os pra agora então tem vou vai consultor consultora ficou às quer pode fica aqui "
    "sim nosso nossa pela pelo marcado anotado pronto desculpe entendo parcela parcelas"
)
SPANISH = (
    "usted ustedes es son con una del el los las en y gracias hola su sus puedo también eso muy pero ahora "
    "entonces asesor asesora tiene voy va le lo aquí sí quiere puede nuestro nuestra cuota"
)
ENGLISH = (
    "the you your is are with and to of for thanks thank hello hi can will please our we i it this that be have "
    "has consultant an"
)
LANGUAGE_WORDS = {"pt": set(PORTUGUESE.split()), "es": set(SPANISH.split()), "en": set(ENGLISH.split())}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None  # None: not computable (or, for the judge, not judged)
    detail: str = ""
    judged: bool = False  # scored by the judge model, not mechanically


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    result: str = ""


@dataclass(frozen=True)
class Playbook:
    """The playbook rows of a lead's area (and of area ''), as the database holds them now: every text of
    every row (what a figure may come from) and the entries' ids. `missing`: why there is none to check with."""

    texts: tuple[str, ...] = ()
    ids: frozenset[str] = frozenset()
    missing: str = ""

    def figures(self) -> set[tuple[str, Decimal]]:
        return {figure for text in self.texts for figure in figures(text)}


@dataclass
class TurnResult:
    status: int
    answer: Any
    tool_calls: list[ToolCall] = field(default_factory=list)
    signed: bool = True  # n8n signed the answer as the service requires

    @property
    def reply(self) -> str:
        return str(self.answer.get("reply") or "") if isinstance(self.answer, dict) else ""

    def actions(self, kind: str) -> list[dict[str, Any]]:
        actions = self.answer.get("actions") if isinstance(self.answer, dict) else None
        return [a for a in actions or [] if isinstance(a, dict) and a.get("type") == kind]


# ---------------------------------------------------------------------- figures
def number(text: str) -> Decimal | None:
    """A figure as written in pt-BR, es or en: 1.250,50 / 1,250.50 / 1250 / 0,5."""
    digits = text.strip(".,")
    if "," in digits and "." in digits:
        decimal_mark = "," if digits.rfind(",") > digits.rfind(".") else "."
        digits = digits.replace("." if decimal_mark == "," else ",", "").replace(",", ".")
    else:
        for mark in ",.":
            if mark in digits:
                groups = digits.split(mark)
                thousands = len(groups) > 2 or len(groups[-1]) == 3
                digits = digits.replace(mark, "") if thousands else digits.replace(mark, ".")
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def figures(text: str) -> set[tuple[str, Decimal]]:
    """Every price ("money"), percentage ("percent") and term ("term": months, years, installments) in a
    text, as (kind, value): "R$ 1.250,00" and "1250 reais" are the same figure, "R$ 80 mil" is 80000."""
    found: set[tuple[str, Decimal]] = set()
    for kind, pattern in (("money", MONEY_BEFORE), ("money", MONEY_AFTER), ("percent", PERCENT), ("term", TERM)):
        for match in pattern.finditer(text):
            value = number(match.group(1))
            if value is None:
                continue
            if kind == "money" and match.group(2):
                value *= 1000
            found.add((kind, value.normalize()))
    return found


def describe(figure: tuple[str, Decimal]) -> str:
    kind, value = figure
    return {"money": f"R$ {value:f}", "percent": f"{value:f}%", "term": f"{value:f} (prazo/parcelas)"}[kind]


def invented_figures(reply: str, playbook: Playbook) -> list[tuple[str, Decimal]]:
    """The figures of a reply that no playbook row of the area states."""
    known = playbook.figures()
    return sorted(figures(reply) - known)


# ---------------------------------------------------------------------- text
def plain(text: str) -> str:
    """Lower case without accents: "Consultor" and "consultór" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def language_of(text: str) -> str:
    """pt, es or en by the words that tell them apart; '' when nothing tells."""
    words = [word.casefold() for word in WORD.findall(text)]
    scores = {language: sum(word in known for word in words) for language, known in LANGUAGE_WORDS.items()}
    best = max(scores.values())
    leaders = [language for language, score in scores.items() if score == best]
    return leaders[0] if best and len(leaders) == 1 else ""


def matches(expected: Any, actual: Any) -> bool:
    """A text is contained (case and accents ignored), '*' is anything not empty, numbers compare as numbers."""
    if expected == "*":
        return actual not in (None, "", [], {})
    if isinstance(expected, str):
        return isinstance(actual, str) and plain(expected) in plain(actual)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    return bool(expected == actual)


# ---------------------------------------------------------------------- the checks
def check_turn(result: TurnResult, expect: Expect, language: str, playbook: Playbook) -> list[Check]:
    """Every mechanical check of one answer."""
    checks = [answered(result)]
    reply = result.reply
    invented = invented_figures(reply, playbook)
    if playbook.missing and figures(reply):
        checks.append(Check("figures only from the playbook", None, playbook.missing))
    else:
        checks.append(
            Check(
                "figures only from the playbook",
                not invented,
                "not in the playbook: " + ", ".join(describe(f) for f in invented) if invented else "",
            )
        )
    checks.append(Check(f"at most {expect.max_chars} characters", len(reply) <= expect.max_chars, f"{len(reply)}"))
    markdown = MARKDOWN.search(reply)
    checks.append(Check("no markdown", markdown is None, repr(markdown.group(0)) if markdown else ""))
    heard = language_of(reply)  # a reply too short to tell is in no other language either
    checks.append(Check(f"written in {language}", heard in ("", language), f"reads as {heard or 'any'}"))
    checks += tool_checks(result.tool_calls, expect)
    checks += answer_checks(result, expect, playbook)
    return checks


def answered(result: TurnResult) -> Check:
    if result.status != 200:
        return Check("a valid answer", False, f"status {result.status}: {str(result.answer)[:200]}")
    if not result.signed:
        return Check("a valid answer", False, "not signed by n8n")
    try:
        N8nResponse.model_validate(result.answer)
    except ValidationError as error:
        return Check("a valid answer", False, str(error)[:300])
    return Check("a valid answer", True)


def tool_checks(calls: list[ToolCall], expect: Expect) -> list[Check]:
    called = [call.name for call in calls]
    checks = [Check(f"called {tool}", tool in called, f"called: {called}") for tool in expect.tools]
    for tool in expect.forbidden_tools:
        wrong = called if tool == "*" else [name for name in called if name == tool]
        checks.append(Check("called no tool" if tool == "*" else f"did not call {tool}", not wrong, f"{wrong}"))
    for tool, arguments in expect.tool_args.items():
        given = [call.arguments for call in calls if call.name == tool]
        fits = any(all(matches(value, args.get(name)) for name, value in arguments.items()) for args in given)
        checks.append(Check(f"{tool} arguments {arguments}", fits, f"given: {given}"))
    return checks


def answer_checks(result: TurnResult, expect: Expect, playbook: Playbook) -> list[Check]:
    checks = []
    set_fields = {name: value for action in result.actions("set_fields") for name, value in action["fields"].items()}
    for name, value in expect.fields.items():
        checks.append(Check(f"field {name} = {value!r}", matches(value, set_fields.get(name)), f"set: {set_fields}"))
    if expect.no_fields:
        checks.append(Check("sets no field", not set_fields, f"set: {set_fields}"))
    if expect.handover is not None:
        handed = bool(result.actions("handover"))
        checks.append(Check("hands over" if expect.handover else "does not hand over", handed == expect.handover))
    stated = figures(result.reply)
    if expect.states_price is True:
        prices = [figure for figure in stated if figure[0] == "money"]
        checks.append(Check("states a price", bool(prices), result.reply[:120]))
    if expect.states_price is False:
        checks.append(Check("states no figure", not stated, ", ".join(describe(f) for f in sorted(stated))))
    if expect.cites_playbook:
        checks.append(cites(result.answer, playbook))
    for words in expect.never_mentions:
        checks.append(Check(f"does not say {words!r}", plain(words) not in plain(result.reply)))
    for tool in expect.tools_succeeded:
        answers = [call.result for call in result.tool_calls if call.name == tool]
        failed = not answers or tool_failed(answers[-1])
        checks.append(
            Check(f"{tool} answered without error", not failed, answers[-1][:200] if answers else "not called")
        )
    if expect.mentions_any:
        found = any(plain(word) in plain(result.reply) for word in expect.mentions_any)
        checks.append(Check(f"mentions one of {expect.mentions_any}", found, result.reply[:120]))
    return checks


def cites(answer: Any, playbook: Playbook) -> Check:
    name = "names the playbook entries it used"
    if playbook.missing:
        return Check(name, None, playbook.missing)
    ids = answer.get("playbook_ids") if isinstance(answer, dict) else None
    if not ids:
        return Check(name, False, "the answer has no playbook_ids")
    unknown = [entry for entry in ids if entry not in playbook.ids]
    return Check(name, not unknown, f"not entries of the lead's area: {unknown}" if unknown else f"{ids}")


def tool_failed(result: str) -> bool:
    """Whether a tool's answer, as the model saw it, is an error (the service's {"error": ...}, n8n's own)."""
    try:
        value = json.loads(result)
    except ValueError:
        return "error" in result.lower()
    if isinstance(value, list):
        value = value[0] if value else {}
    return not isinstance(value, dict) or "error" in value
