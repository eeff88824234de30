"""`make eval`: the dialogue set (n8n/evals/*.toml) through the shipped workflows in a real n8n.

    python -m scripts.evals.run [--only remarcar]

The stack of the real-n8n suite (scripts/n8n_harness.py: a throwaway PostgreSQL with
n8n/supabase/schema.sql, n8n 1.123 with the shipped workflows) plus the service's local run (the
scheduling tools call its API). Each client turn is one signed kind-reply request to the reply workflow,
with the earlier turns as history; the answer and the tools the model called are checked (checks.py)
against the playbook rows of the lead's area, read from PostgreSQL.

The chat model is the scripted one (each turn's `model` steps) unless EVAL_MODEL_URL and EVAL_MODEL are set
(EVAL_MODEL_KEY too, if the endpoint wants one): then every completion goes to that OpenAI-compatible
endpoint. With EVAL_JUDGE_URL and EVAL_JUDGE_MODEL (EVAL_JUDGE_KEY) a judge model scores each answer against
the dialogue's rubric; otherwise those checks are reported "not judged". Prints one line per dialogue;
exits 1 when a mechanical check failed or could not be computed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from local.defaults import LOCAL_SECRETS  # noqa: E402
from sales_assistant.adapters.n8n_signature import SIGNATURE_HEADER, sign_answer, signed_headers  # noqa: E402
from sales_assistant.models.n8n import (  # noqa: E402
    ClientMessage,
    ContactInfo,
    LeadInfo,
    N8nRequest,
    QualificationField,
    SalespersonInfo,
)
from sales_assistant.models.n8n import Turn as HistoryTurn  # noqa: E402
from scripts.evals.chat import RemoteChatModel, ScriptedChatModel, judge, tool_answer, tool_calls  # noqa: E402
from scripts.evals.checks import Check, Playbook, ToolCall, TurnResult, check_turn  # noqa: E402
from scripts.evals.dialogues import DIALOGUES, Dialogue, load_all  # noqa: E402
from scripts.n8n_harness import RealN8n, exchange, free_port, serving, start_local_run, stop_process, wait_until  # noqa: E402
from scripts.playbook import import_playbook  # noqa: E402

SECRET = LOCAL_SECRETS["N8N_SIGNING_SECRET"]
REPLY_PATH = "/webhook/kommo-reply"
# The playbook's tables (n8n/supabase/schema.sql): each row has `id` and `area` ('' = every area).
PLAYBOOK_TABLES = (
    "playbook_company",
    "playbook_offers",
    "playbook_faq",
    "playbook_qualification",
    "playbook_objections",
    "playbook_handover_topics",
)
NOT_JUDGED = "not judged"
SCHEDULING_CHANGES = ("book_appointment", "reschedule_appointment", "cancel_appointment")
SAMPLE_PLAYBOOK = ROOT / "n8n" / "supabase" / "playbook"


@dataclass
class DialogueResult:
    dialogue: Dialogue
    turns: list[list[Check]] = field(default_factory=list)
    tokens: tuple[int, int] | None = (0, 0)  # None: an answer without `usage`

    def checks(self, *, judged: bool) -> list[Check]:
        return [check for turn in self.turns for check in turn if check.judged == judged]


# ---------------------------------------------------------------------- the stack
@contextlib.contextmanager
def eval_stack(base: Path, model: ScriptedChatModel | RemoteChatModel | None = None) -> Iterator[tuple[RealN8n, str]]:
    """PostgreSQL, the chat model (by default as the environment says: chat_model), n8n and the service's local
    run; yields the harness and the service's URL."""
    api_port = free_port()
    service_url = f"http://127.0.0.1:{api_port}"
    # n8n's tools call the service with the operator token: these requests do not come from the service's
    # conversation flow, and the n8n token acts only for a lead whose answer the service is waiting for
    # (tests/n8n/test_real_n8n.py drives that flow end to end)
    real = RealN8n(SECRET, service_url, LOCAL_SECRETS["API_TOKEN"], base)
    real.model = model or chat_model()
    with contextlib.ExitStack() as stack:
        stack.callback(real.stop)
        real.start()
        assert real.n8n is not None and real.postgres is not None
        load_sample_playbook(real)
        serving(real.n8n.url, ("kommo-reply",))
        service = start_local_run(api_port, free_port(), real.n8n.url, base / "service.log", LOCAL_SECRETS["API_TOKEN"])
        stack.callback(stop_process, service)
        yield real, service_url


def chat_model() -> ScriptedChatModel | RemoteChatModel:
    url, model = os.environ.get("EVAL_MODEL_URL", ""), os.environ.get("EVAL_MODEL", "")
    if bool(url) != bool(model):
        raise SystemExit("set both EVAL_MODEL_URL and EVAL_MODEL (or neither, for the scripted model)")
    if url:
        return RemoteChatModel(upstream=url, upstream_model=model, upstream_key=os.environ.get("EVAL_MODEL_KEY", ""))
    return ScriptedChatModel()


def load_sample_playbook(real: RealN8n) -> None:
    """The sample playbook (n8n/supabase/playbook/*.csv), imported as the sales team imports theirs (an upsert
    by id: a second import changes nothing)."""
    assert real.postgres is not None
    import_playbook(real.postgres.url, SAMPLE_PLAYBOOK)


# ---------------------------------------------------------------------- the playbook
def read_playbook(real: RealN8n, area: str) -> Playbook:
    """The playbook rows of `area` and of '' (offers only while valid), as the database holds them now."""
    assert real.postgres is not None
    present = [t for t in PLAYBOOK_TABLES if real.postgres.psql(f"SELECT to_regclass('{t}') IS NOT NULL") == "t"]
    if not present:
        return Playbook(missing="no playbook tables in the database (n8n/supabase/schema.sql)")
    quoted = sql_text(area)
    rows: list[dict[str, Any]] = []
    for table in present:
        valid = " AND (valid_from IS NULL OR valid_from <= now()) AND (valid_to IS NULL OR valid_to >= now())"
        query = f"SELECT * FROM {table} WHERE area IN ('', {quoted})"  # noqa: S608 - this module's names, quoted area
        query += valid if table == "playbook_offers" else ""
        rows += real.postgres.rows(query)
    if not rows:
        return Playbook(missing=f"the playbook has no rows for the area {area!r}")
    texts = tuple(" ".join(str(v) for v in row.values() if isinstance(v, str)) for row in rows)
    return Playbook(texts=texts, ids=frozenset(str(row["id"]) for row in rows))


# ---------------------------------------------------------------------- a dialogue
def run_dialogue(real: RealN8n, dialogue: Dialogue, judge_with: tuple[str, str, str] | None) -> DialogueResult:
    assert real.n8n is not None and isinstance(real.model, ScriptedChatModel | RemoteChatModel)
    result = DialogueResult(dialogue)
    playbook = read_playbook(real, dialogue.lead.area)
    conversation = f"eval:{dialogue.id}:{uuid.uuid4().hex[:8]}"  # a memory of its own in n8n_chat_histories
    history: list[HistoryTurn] = []
    real.model.begin_dialogue()
    for turn in dialogue.turns:
        real.model.play(turn.model)
        request = reply_request(dialogue, conversation, turn.client, history)
        status, answer, signed = post_signed(real.n8n.url + REPLY_PATH, request)
        outcome = TurnResult(status, answer, tool_calls(list(real.model.requests)), signed=signed)
        checks = check_turn(outcome, turn.expect, dialogue.language, playbook)
        checks.append(judged(dialogue, turn.client, turn.judge, history, outcome, playbook, judge_with))
        result.turns.append(checks)
        result.tokens = add_tokens(result.tokens, answer)
        settle(real, outcome.tool_calls)
        now = int(time.time())
        history += [HistoryTurn(role="client", text=turn.client, at=now)]
        if outcome.reply:
            history += [HistoryTurn(role="assistant", text=outcome.reply, at=now)]
    return result


def settle(real: RealN8n, calls: list[ToolCall]) -> None:
    """Wait (up to a minute) until each meeting booked, moved or cancelled through the tools is so in n8n's agenda:
    the service forwards it there through its scheduling queue, and a client's next message comes later than this
    loop's (my_appointments reads that agenda). One that never arrives shows in the next turn's checks."""
    assert real.postgres is not None
    postgres = real.postgres
    for call in calls:
        answer = tool_answer(call.result)
        if call.name not in SCHEDULING_CHANGES or not isinstance(answer, dict) or answer.get("error"):
            continue
        appointment, start = sql_text(str(answer.get("id", ""))), sql_text(str(answer.get("start", "")))
        arrived = f"status = {sql_text('cancelled')}" if call.name == "cancel_appointment" else f"starts_at = {start}"
        query = f"SELECT id FROM agenda WHERE id = {appointment} AND {arrived}"  # noqa: S608 - quoted values
        with contextlib.suppress(AssertionError):
            wait_until(lambda query=query: postgres.rows(query), 60, "the meeting in n8n's agenda")


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def reply_request(dialogue: Dialogue, conversation: str, text: str, history: list[HistoryTurn]) -> N8nRequest:
    """What the service sends for one client message (kind reply), as its conversation flow builds it."""
    lead = dialogue.lead
    vendor = SalespersonInfo(id=lead.vendor_id, name=lead.vendor_name, areas=[lead.area]) if lead.vendor_id else None
    return N8nRequest(
        kind="reply",
        conversation_id=conversation,
        lead=LeadInfo(id=lead.id, name=lead.name, area=lead.area, custom_fields=lead.fields),
        contact=ContactInfo(id=lead.contact_id, name=lead.contact),
        vendor=vendor,
        messages=[ClientMessage(id=uuid.uuid4().hex, text=text, created_at=int(time.time()))],
        history=list(history),
        window_open=True,
        qualification=[QualificationField.model_validate(q.model_dump()) for q in dialogue.fields_to_fill()],
    )


def post_signed(url: str, request: N8nRequest) -> tuple[int, Any, bool]:
    """POST as the service does (contract v2's signed headers); the answer, and whether n8n signed it."""
    raw = request.model_dump_json().encode()
    request_id = uuid.uuid4().hex
    path = urllib.parse.urlsplit(url).path
    headers = {"content-type": "application/json"}
    headers |= signed_headers(SECRET, path, raw, timestamp=str(int(time.time())), request_id=request_id)
    status, answer_headers, answer = exchange("POST", url, raw, headers)
    signed = answer_headers.get(SIGNATURE_HEADER) == sign_answer(SECRET, request_id, answer)
    try:
        return status, json.loads(answer), signed
    except ValueError:
        return status, answer.decode(errors="replace"), signed


def add_tokens(tokens: tuple[int, int] | None, answer: Any) -> tuple[int, int] | None:
    """Tokens in and out from the answer's `usage` (input_tokens/output_tokens or prompt_tokens/
    completion_tokens); None once an answer has none."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    if tokens is None or not isinstance(usage, dict):
        return None
    spent_in = usage.get("input_tokens", usage.get("prompt_tokens"))
    spent_out = usage.get("output_tokens", usage.get("completion_tokens"))
    if not isinstance(spent_in, int) or not isinstance(spent_out, int):
        return None
    return tokens[0] + spent_in, tokens[1] + spent_out


def judged(
    dialogue: Dialogue,
    client: str,
    turn_rubric: str,
    history: list[HistoryTurn],
    outcome: TurnResult,
    playbook: Playbook,
    judge_with: tuple[str, str, str] | None,
) -> Check:
    name = "judge: the rubric"
    if judge_with is None:
        return Check(name, None, f"{NOT_JUDGED} (EVAL_JUDGE_URL/EVAL_JUDGE_MODEL not set)", judged=True)
    case = {
        "criterios": [dialogue.rubric, turn_rubric],
        "persona_do_cliente": dialogue.persona,
        "conversa_anterior": [f"{t.role}: {t.text}" for t in history],
        "mensagem_do_cliente": client,
        "resposta_do_assistente": outcome.reply,
        "acoes": outcome.answer.get("actions") if isinstance(outcome.answer, dict) else None,
        "ferramentas_chamadas": [call.name for call in outcome.tool_calls],
        "playbook_da_area": list(playbook.texts),
    }
    passed, reason = judge(*judge_with, case)
    return Check(name, passed, reason, judged=True)


# ---------------------------------------------------------------------- the table
def table(results: list[DialogueResult]) -> str:
    width = max([len("dialogue"), *(len(result.dialogue.id) for result in results)])
    lines = [f"{'dialogue':{width}}  {'checks':>7}  {'judge':>11}  {'tokens in/out':>13}"]
    for result in results:
        mechanical = result.checks(judged=False)
        passed = sum(check.passed is True for check in mechanical)
        judge_checks = result.checks(judged=True)
        verdict = f"{sum(c.passed is True for c in judge_checks)}/{len(judge_checks)}"
        if all(check.detail.startswith(NOT_JUDGED) for check in judge_checks):
            verdict = NOT_JUDGED
        tokens = f"{result.tokens[0]}/{result.tokens[1]}" if result.tokens else "-"
        lines.append(f"{result.dialogue.id:{width}}  {passed:>3}/{len(mechanical):<3}  {verdict:>11}  {tokens:>13}")
    return "\n".join(lines)


def failures(results: list[DialogueResult], *, judged: bool = False) -> str:
    """The mechanical checks that did not pass (or, `judged`, the judge's verdicts that did not), one a line."""
    return "\n".join(
        f"  {result.dialogue.id}, turn {number}: {check.name}"
        + (" (not computable)" if check.passed is None and not judged else "")
        + (f": {check.detail}" if check.detail else "")
        for result in results
        for number, turn in enumerate(result.turns, 1)
        for check in turn
        if check.judged == judged and check.passed is not True and not check.detail.startswith(NOT_JUDGED)
    )


def run(dialogues: list[Dialogue], base: Path) -> list[DialogueResult]:
    judge_url, judge_model = os.environ.get("EVAL_JUDGE_URL", ""), os.environ.get("EVAL_JUDGE_MODEL", "")
    judge_with = (judge_url, judge_model, os.environ.get("EVAL_JUDGE_KEY", "")) if judge_url and judge_model else None
    with eval_stack(base) as (real, _):
        return [run_dialogue(real, dialogue, judge_with) for dialogue in dialogues]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="only the dialogues whose id contains this")
    parser.add_argument("--dialogues", type=Path, default=DIALOGUES, help="the folder of the dialogue files")
    args = parser.parse_args()
    dialogues = load_all(args.dialogues, args.only)
    model = os.environ.get("EVAL_MODEL") or "the scripted model (scripts/n8n_fake_model.py)"
    print(f"{len(dialogues)} dialogues through the shipped workflows in a real n8n, with {model}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kommo-eval-") as base:
        results = run(dialogues, Path(base))
    print(table(results))
    judged = failures(results, judged=True)
    if judged:
        print("\nthe judge's verdicts that did not pass (they do not fail the run):\n" + judged)
    failed = failures(results)
    if failed:
        print("\nmechanical checks that did not pass:\n" + failed)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
