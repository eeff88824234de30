"""The shipped workflows (n8n/workflows/) in a real n8n 1.123.81, driven by the service's local run.

Setup (once for the module): PostgreSQL loaded with n8n/supabase/schema.sql, the fake chat model,
n8n with the credentials and workflows imported by its CLI and activated (the Code nodes in a task
runner, as n8n 2.x runs them), then `python -m local.run` with N8N_BASE_URL pointing at that n8n (the
Kommo sandbox stands in for Kommo). Then: client messages posted as Kommo posts them are answered
through the real reply workflow, the agent's tools call the service's API, the service's own
appointment forwards land in the one agenda table and show in the salesperson's view, its salesperson
sync fills `vendedores`, wrong, stale, misdirected and replayed requests are refused, and every answer
is signed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from local.defaults import LOCAL_SECRETS
from sales_assistant.adapters.n8n_signature import SIGNATURE_HEADER, sign, sign_answer, signed_headers
from sales_assistant.models.n8n import N8nResponse
from scripts.n8n_fake_model import REPLY_PREFIX, FakeChatModel, Step, content_text
from scripts.n8n_harness import (
    SCHEMA,
    Postgres,
    exchange,
    free_port,
    http,
    parsed,
    start_local_run,
    stop_process,
    wait_until,
)
from scripts.n8n_workflows import MODEL_NAME
from tests.n8n.conftest import real_n8n

ROOT = Path(__file__).resolve().parents[2]
SECRET = LOCAL_SECRETS["N8N_SIGNING_SECRET"]
API_TOKEN = LOCAL_SECRETS["API_TOKEN"]  # the operator token: the sync, the bot state
N8N_API_TOKEN = LOCAL_SECRETS["N8N_API_TOKEN"]  # n8n's service API credential: the agent's tools
OPERATOR = {"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"}
LEAD, CONTACT, VENDOR = 27754599, 93589657, 8401234
RAFAEL_LEAD, BRUNO = 27754600, 8401235  # local/kommo_seed.py: Rafael Lima's lead and its salesperson
EXAMPLES = ROOT / "docs" / "contracts" / "examples"
N8N_EXAMPLES = ROOT / "n8n" / "examples"
PATHS = (
    "/webhook/kommo-reply",
    "/webhook/kommo-proactive",
    "/webhook/kommo-scheduling",
    "/webhook/kommo-salespeople",
    "/webhook/kommo-health",
    "/webhook/kommo-follow-up",
    "/webhook/kommo-erase",
)


@dataclass
class Stack:
    n8n_url: str
    api_url: str
    kommo_url: str
    model: FakeChatModel
    postgres: Postgres
    n8n_log: Path
    timings: dict[str, float]

    def timed(self, name: str, started: float) -> None:
        self.timings[name] = time.perf_counter() - started


@pytest.fixture(scope="module")
def stack(n8n_timings: dict[str, float]) -> Iterator[Stack]:
    started = time.perf_counter()
    api_port, kommo_port = free_port(), free_port()
    with real_n8n("kommo-n8n-test-", SECRET, f"http://127.0.0.1:{api_port}", N8N_API_TOKEN, ()) as real:
        assert real.n8n is not None and real.model is not None and real.postgres is not None
        service_started = time.perf_counter()
        service = start_local_run(api_port, kommo_port, real.n8n.url, real.base / "service.log", API_TOKEN)
        try:
            n8n_timings.update({f"setup: {name}": seconds for name, seconds in real.timings.items()})
            n8n_timings["setup: start the service's local run"] = time.perf_counter() - service_started
            n8n_timings["setup: total"] = time.perf_counter() - started
            yield Stack(
                real.n8n.url,
                f"http://127.0.0.1:{api_port}",
                f"http://127.0.0.1:{kommo_port}",
                real.model,
                real.postgres,
                real.n8n.log,
                n8n_timings,
            )
        finally:
            stop_process(service)


# ---------------------------------------------------------------------- helpers
def signed_post(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    at: int | None = None,
    signature: str | None = None,
    request_id: str | None = None,
    signed_path: str | None = None,
    indent: int | None = None,
) -> tuple[int, Any]:
    """POST as the service does: compact JSON (or indented by `indent`), the headers of the service's own
    signed_headers() (a fresh request id unless given). A 2xx answer must carry n8n's signature of it, as
    the service requires."""
    raw = json.dumps(payload, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":")).encode()
    timestamp = str(int(time.time()) if at is None else at)
    request_id = request_id or uuid.uuid4().hex
    path = signed_path or urlsplit(url).path
    headers = {
        "content-type": "application/json",
        **signed_headers(secret, path, raw, timestamp=timestamp, request_id=request_id),
    }
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    status, answer_headers, answer = exchange("POST", url, raw, headers)
    if status < 300:
        assert answer_headers.get(SIGNATURE_HEADER) == sign_answer(SECRET, request_id, answer), "unsigned answer"
    return status, parsed(answer)


def example(name: str, directory: Path = EXAMPLES) -> dict[str, Any]:
    return dict(json.loads((directory / name).read_text()))


def client_message(message_id: str, text: str) -> bytes:
    """events/kommo/client-message.form (Mariana, lead 27754599) with another id and text, dated now."""
    fields = parse_qsl((ROOT / "events" / "kommo" / "client-message.form").read_text())
    replaced = {"message[add][0][id]": message_id, "message[add][0][text]": text}
    replaced["message[add][0][created_at]"] = str(int(time.time()))
    return urlencode([(key, replaced.get(key, value)) for key, value in fields]).encode()


def post_client_message(stack: Stack, message_id: str, text: str) -> None:
    status, answer = http(
        "POST",
        f"{stack.api_url}/webhooks/kommo/{LOCAL_SECRETS['WEBHOOK_TOKEN']}",
        client_message(message_id, text),
        {"content-type": "application/x-www-form-urlencoded"},
    )
    assert (status, answer["accepted"]) == (200, 1), answer


def kommo_requests(stack: Stack) -> list[dict[str, Any]]:
    return list(http("GET", f"{stack.kommo_url}/_sandbox/requests")[1])


def delivered_reply(stack: Stack, containing: str, seconds: float = 45) -> dict[str, Any]:
    """The lead PATCH that wrote a reply containing `containing` into the reply field, once the
    Salesbot run that sends it followed."""

    def found() -> dict[str, Any] | None:
        recorded = kommo_requests(stack)
        for index, request in enumerate(recorded):
            patched = request["method"] == "PATCH" and request["path"].endswith(f"/leads/{LEAD}")
            if patched and containing in json.dumps(request["body"], ensure_ascii=False):
                runs = [r for r in recorded[index:] if r["path"] == "/api/v2/salesbot/run"]
                if runs:
                    return dict(request)
        return None

    return dict(wait_until(found, seconds, f"a reply containing {containing!r} delivered through Kommo"))


def tasks(stack: Stack) -> list[dict[str, Any]]:
    return [r["body"][0] for r in kommo_requests(stack) if r["method"] == "POST" and r["path"] == "/api/v4/tasks"]


def first_item(tool_result: str) -> dict[str, Any]:
    """What a tool answered, as the agent saw it (n8n hands the model a JSON list of items)."""
    value = json.loads(tool_result)
    return dict(value[0] if isinstance(value, list) else value)


def reply_text(patch: dict[str, Any]) -> str:
    return str(patch["body"]["custom_fields_values"][0]["values"][0]["value"])


def usage_reported(model: FakeChatModel) -> dict[str, Any]:
    """The `usage` an AI answer carries: the model the workflows ask for, and the tokens the (fake) provider
    reported since the model's last reset, summed over the completions."""
    input_tokens, output_tokens = model.tokens_reported()
    return {"model": MODEL_NAME, "input_tokens": input_tokens, "output_tokens": output_tokens}


# ---------------------------------------------------------------------- the checks
def test_the_shipped_workflows_are_built_from_their_sources() -> None:
    completed = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "n8n_workflows.py"), "--check"], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr


def test_the_health_ping_is_answered(stack: Stack) -> None:
    started = time.perf_counter()
    assert signed_post(stack.n8n_url + "/webhook/kommo-health", example("request-health.json", N8N_EXAMPLES)) == (
        200,
        {"ok": True},
    )
    stack.timed("health ping", started)


@pytest.mark.parametrize("path", PATHS)
def test_a_wrong_signature_is_refused(stack: Stack, path: str) -> None:
    payload = (
        example("request-scheduling.json", N8N_EXAMPLES) if "scheduling" in path else example("request-reply.json")
    )
    now = int(time.time())
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    asked = len(stack.model.requests)
    refused = {
        "wrong secret": signed_post(stack.n8n_url + path, payload, secret="not-the-secret"),
        "no signature": signed_post(stack.n8n_url + path, payload, signature=""),
        "signature of another body": signed_post(
            stack.n8n_url + path,
            payload,
            signature=signed_headers(SECRET, path, raw + b" ", timestamp=str(now), request_id="a" * 32)[
                SIGNATURE_HEADER
            ],
            request_id="a" * 32,
            at=now,
        ),
        "signed for another workflow": signed_post(stack.n8n_url + path, payload, signed_path="/webhook/kommo-other"),
        "six minutes old": signed_post(stack.n8n_url + path, payload, at=now - 360),
        "from the future": signed_post(stack.n8n_url + path, payload, at=now + 120),
    }
    assert {case: status for case, (status, _) in refused.items()} == dict.fromkeys(refused, 401)
    assert refused["six minutes old"][1] == {"error": "unauthorized", "message": "request too old"}
    assert len(stack.model.requests) == asked  # nothing reached the AI


def test_a_request_signed_as_in_contract_v1_is_refused(stack: Stack) -> None:
    raw = b'{"version":"1","kind":"health"}'
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-timestamp": timestamp,
        "x-signature": sign(SECRET, timestamp, raw),
    }
    status, _, answer = exchange("POST", stack.n8n_url + "/webhook/kommo-health", raw, headers)
    assert (status, parsed(answer)) == (401, {"error": "unauthorized", "message": "missing or malformed X-Request-Id"})


def test_a_replayed_request_is_refused_later_and_at_once(stack: Stack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url, payload, at = (
        stack.n8n_url + "/webhook/kommo-health",
        example("request-health.json", N8N_EXAMPLES),
        int(time.time()),
    )
    request_id = uuid.uuid4().hex
    assert signed_post(url, payload, request_id=request_id, at=at) == (200, {"ok": True})
    replayed = {"error": "unauthorized", "message": "replayed request"}
    assert signed_post(url, payload, request_id=request_id, at=at) == (401, replayed)

    captured = uuid.uuid4().hex  # the same request delivered four times at once: one passes
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: signed_post(url, payload, request_id=captured, at=at), range(4)))
    assert sorted(answers, key=str) == sorted([(200, {"ok": True})] + [(401, replayed)] * 3, key=str)


def test_a_request_within_the_clock_skew_is_accepted(stack: Stack) -> None:
    at = int(time.time()) + 20  # the service's clock 20 s ahead: allowed (30 s of skew)
    assert signed_post(stack.n8n_url + "/webhook/kommo-health", {"version": "2", "kind": "health"}, at=at) == (
        200,
        {"ok": True},
    )


def test_the_code_nodes_run_in_a_task_runner(stack: Stack) -> None:
    """N8N_RUNNERS_ENABLED=true, as n8n 2.x always runs: every Code node (here the signature check and
    the answer's signature) runs in the JS task runner, a child process of n8n."""
    assert 'Registered runner "JS Task Runner"' in stack.n8n_log.read_text(errors="replace")
    assert signed_post(stack.n8n_url + "/webhook/kommo-health", {"version": "2", "kind": "health"}) == (
        200,
        {"ok": True},
    )


def test_a_body_that_is_not_compact_json_is_checked_on_the_bytes_received(stack: Stack) -> None:
    """The task runner hands the Code node the raw body: re-serialising the parsed body would not give
    back these indented bytes, and the signature would not match."""
    payload = {"version": "2", "kind": "health"}
    assert signed_post(stack.n8n_url + "/webhook/kommo-health", payload, indent=2) == (200, {"ok": True})


def test_a_curled_client_message_is_answered_through_the_real_reply_workflow(stack: Stack) -> None:
    started = time.perf_counter()
    stack.model.reset()
    post_client_message(stack, "n8n-msg-1", "Oi! Vi o anúncio do consórcio, como funciona?")
    patch = delivered_reply(stack, REPLY_PREFIX)
    stack.timed("client message -> reply delivered (4 s quiet window)", started)
    assert reply_text(patch) == f"{REPLY_PREFIX} Olá! Recebi: Oi! Vi o anúncio do consórcio, como funciona?"
    [first, *_] = stack.model.requests
    system = first["messages"][0]["content"]
    assert first["messages"][0]["role"] == "system"
    assert "Ana Souza" in system and "Mariana" not in system  # the client's own words only in user messages
    assert "Mariana" in content_text(first["messages"][-1]["content"])
    assert "98765" not in json.dumps(first, ensure_ascii=False)  # the phone never reaches the model
    assert {tool["function"]["name"] for tool in first["tools"]} == {
        "check_availability",
        "hold_slot",
        "book_appointment",
        "my_appointments",
        "reschedule_appointment",
        "cancel_appointment",
        "hand_over",
        "set_fields",
        "search_playbook",
    }
    memory = stack.postgres.rows(
        "SELECT message FROM n8n_chat_histories WHERE session_id = 'lead:27754599' ORDER BY id"
    )
    assert [row["message"]["type"] for row in memory][-2:] == ["human", "ai"]


def test_the_agent_calls_the_service_scheduling_api_through_its_tools(stack: Stack) -> None:
    """The fake model asks for availability, then books; n8n calls the service's routes with the API
    token; the booking gives the salesperson a meeting task."""
    started = time.perf_counter()
    stack.model.reset()
    stack.model.script(
        Step(tool="check_availability"),
        Step(tool="book_appointment"),
        Step(text=f"{REPLY_PREFIX} Pronto, verifiquei a agenda."),
    )
    tasks_before = len(tasks(stack))
    post_client_message(stack, "n8n-msg-2", "Quero agendar uma reunião amanhã à tarde")
    patch = delivered_reply(stack, "verifiquei a agenda")
    stack.timed("client message with two tool calls -> reply", started)
    assert reply_text(patch) == f"{REPLY_PREFIX} Pronto, verifiquei a agenda."
    availability, booking = (first_item(result) for result in stack.model.tool_results())
    print(f"\nservice answers to the agent's tools: availability {availability}, booking {booking}")
    assert {availability.get("error"), booking.get("error")}.isdisjoint({"unauthorized", "forbidden"})
    assert booking.get("id"), booking  # booked through the service's scheduling routes
    wait_until(  # the booking's follow-ups: the salesperson's meeting task (Kommo task type 2)
        lambda: any(task.get("task_type_id") == 2 for task in tasks(stack)[tasks_before:]),
        20,
        "a meeting task for the salesperson",
    )


def mariana_appointment(stack: Stack) -> dict[str, Any]:
    """Mariana's appointment to come (the one the agent booked above, or one booked now with the operator
    token), once its forward reached n8n's agenda and its meeting task is in Kommo."""
    to_come = f"SELECT id FROM agenda WHERE lead_id = {LEAD} AND status <> 'cancelled' AND ends_at > now()"  # noqa: S608
    if not stack.postgres.rows(to_come):
        status, free = http("GET", f"{stack.api_url}/vendors/{VENDOR}/availability", headers=OPERATOR)
        assert status == 200 and free["slots"], free
        booking = {"vendor_id": VENDOR, "lead_id": LEAD, "start": free["slots"][0]["start"]}
        status, booked = http("POST", f"{stack.api_url}/appointments", json.dumps(booking).encode(), OPERATOR)
        assert status == 201, booked
    [row] = wait_until(lambda: stack.postgres.rows(to_come), 60, "Mariana's appointment in n8n's agenda")
    status, appointment = http("GET", f"{stack.api_url}/appointments/{row['id']}", headers=OPERATOR)
    assert status == 200, appointment
    wait_until(lambda: meeting_task(stack, appointment["start"]), 30, "the salesperson's meeting task")
    return dict(appointment)


def meeting_task(stack: Stack, start: str) -> dict[str, Any] | None:
    """The salesperson's meeting task (Kommo task type 2) on Mariana's lead, created due at `start`."""
    due = int(datetime.fromisoformat(start).timestamp())
    made = [t for t in tasks(stack) if t.get("entity_id") == LEAD and t.get("task_type_id") == 2]
    return next((task for task in made if task["complete_till"] == due), None)


def task_changes(stack: Stack) -> list[tuple[int, dict[str, Any]]]:
    """Every change of a task in Kommo, in order: (task id, what the PATCH set)."""
    patched = [r for r in kommo_requests(stack) if r["method"] == "PATCH" and r["path"].startswith("/api/v4/tasks/")]
    return [(int(r["path"].rsplit("/", 1)[1]), r["body"]) for r in patched]


def test_a_client_who_cannot_come_reschedules_by_chat_then_cancels(stack: Stack) -> None:
    """Mariana answers a reminder with "não vou poder": the agent finds her appointment (my_appointments,
    her lead only), moves it to a new free slot with the n8n token, then cancels it when she asks; the
    service moves the salesperson's meeting task, then completes it, and n8n's agenda follows."""
    started = time.perf_counter()
    appointment = mariana_appointment(stack)
    changes_before = len(task_changes(stack))
    free = http("GET", f"{stack.api_url}/vendors/{VENDOR}/availability", headers=OPERATOR)[1]
    new_start = next(slot["start"] for slot in free["slots"] if slot["start"] != appointment["start"])

    stack.model.reset()
    stack.model.script(
        Step(tool="my_appointments", arguments={}),
        Step(tool="reschedule_appointment", arguments={"appointment_id": appointment["id"], "start": new_start}),
        Step(text=f"{REPLY_PREFIX} Remarcado para o novo horário."),
    )
    post_client_message(stack, "n8n-msg-reschedule", "Oi, não vou poder ir nesse horário. Dá para mudar?")
    delivered_reply(stack, "Remarcado para o novo horário")
    stack.timed("client reschedules by chat -> reply", started)
    system = stack.model.requests[0]["messages"][0]["content"]
    assert "não vou poder" in system and "reschedule_appointment" in system
    listed, moved = (first_item(result) for result in stack.model.tool_results())
    assert appointment["id"] in [item["id"] for item in listed["appointments"]], listed
    assert (moved.get("id"), moved.get("start")) == (appointment["id"], new_start), moved  # the n8n token moved it
    now = http("GET", f"{stack.api_url}/appointments/{appointment['id']}", headers=OPERATOR)[1]
    assert (now["start"], now["status"], now["version"]) == (new_start, "booked", appointment["version"] + 1)
    due = int(datetime.fromisoformat(new_start).timestamp())
    [(task_id, move)] = wait_until(lambda: task_changes(stack)[changes_before:], 30, "the meeting task moved")
    assert move["complete_till"] == due and "is_completed" not in move
    in_agenda = f"SELECT starts_at FROM agenda WHERE id = '{appointment['id']}'"  # noqa: S608
    wait_until(
        lambda: (
            datetime.fromisoformat(stack.postgres.rows(in_agenda)[0]["starts_at"]) == datetime.fromisoformat(new_start)
        ),
        60,
        "the reschedule in n8n's agenda",
    )

    started = time.perf_counter()
    stack.model.reset()
    stack.model.script(
        Step(tool="my_appointments", arguments={}),
        Step(tool="cancel_appointment", arguments={"appointment_id": appointment["id"]}),
        Step(text=f"{REPLY_PREFIX} Reunião cancelada."),
    )
    post_client_message(stack, "n8n-msg-cancel", "Pensando melhor, prefiro cancelar a reunião.")
    delivered_reply(stack, "Reunião cancelada")
    stack.timed("client cancels by chat -> reply", started)
    listed, cancelled = (first_item(result) for result in stack.model.tool_results())
    starts = [
        datetime.fromisoformat(item["start"]) for item in listed["appointments"] if item["id"] == appointment["id"]
    ]
    assert starts == [datetime.fromisoformat(new_start)]  # n8n's agenda has the move
    assert cancelled.get("status") == "cancelled", cancelled
    now = http("GET", f"{stack.api_url}/appointments/{appointment['id']}", headers=OPERATOR)[1]
    assert now["status"] == "cancelled"
    [_, (completed_id, completion)] = wait_until(
        lambda: (
            [change for change in task_changes(stack)[changes_before:] if "is_completed" in change[1]]
            and task_changes(stack)[changes_before:]
        ),
        30,
        "the meeting task completed",
    )
    assert (completed_id, completion["is_completed"]) == (task_id, True)  # the same task, not a new one
    in_agenda = f"SELECT status FROM agenda WHERE id = '{appointment['id']}'"  # noqa: S608
    wait_until(lambda: stack.postgres.rows(in_agenda) == [{"status": "cancelled"}], 60, "the cancellation in agenda")


def test_the_agents_set_fields_calls_become_one_action(stack: Stack) -> None:
    """Two set_fields calls in one answer: one set_fields action, a later value of a field winning; a value
    of no shape the contract takes (an object) is left out, so the answer stays valid."""
    stack.model.reset()
    stack.model.script(
        Step(tool="set_fields", arguments={"fields": {"cidade": "Campinas", "interesse": "Moto"}}),
        Step(tool="set_fields", arguments={"fields": {"orcamento": 50000, "cidade": "Santos", "extra": {"a": 1}}}),
        Step(text=f"{REPLY_PREFIX} Anotado."),
    )
    status, answer = signed_post(stack.n8n_url + "/webhook/kommo-reply", example("request-reply.json"))
    assert status == 200, answer
    assert answer == {
        "reply": f"{REPLY_PREFIX} Anotado.",
        "actions": [{"type": "set_fields", "fields": {"cidade": "Santos", "interesse": "Moto", "orcamento": 50000}}],
        "usage": usage_reported(stack.model),
    }
    N8nResponse.model_validate(answer)
    assert (
        "- interesse: uma destas opções: Carro | Moto | Caminhão" in stack.model.requests[0]["messages"][0]["content"]
    )


def test_a_closed_window_gets_a_template_from_the_reply_workflow(stack: Stack) -> None:
    request = example("request-reply.json") | {"window_open": False}
    status, answer = signed_post(stack.n8n_url + "/webhook/kommo-reply", request)
    assert status == 200
    assert answer == {"template": {"name": "retomada_contato", "params": {"nome": "Mariana"}}, "actions": []}
    N8nResponse.model_validate(answer)


def test_a_failing_model_answers_502_for_the_service_to_retry(stack: Stack) -> None:
    stack.model.reset()
    stack.model.script(Step(status=500))
    status, answer = signed_post(stack.n8n_url + "/webhook/kommo-reply", example("request-reply.json"))
    assert (status, answer["error"]) == (502, "ai_failed"), answer
    assert len(stack.model.requests) == 1  # no retry inside n8n: the service's 20 s are not spent twice


@pytest.mark.parametrize("window_open", [False, True])
def test_a_first_message_is_a_template_or_free_text(stack: Stack, window_open: bool) -> None:
    stack.model.reset()
    stack.model.script(Step(text="Olá, Juliana! Aqui é o assistente de Carla Mendes."))
    request = example("request-proactive.json") | {"window_open": window_open}
    status, answer = signed_post(stack.n8n_url + "/webhook/kommo-proactive", request)
    assert status == 200
    N8nResponse.model_validate(answer)
    if window_open:
        assert answer == {
            "reply": "Olá, Juliana! Aqui é o assistente de Carla Mendes.",
            "actions": [],
            "usage": usage_reported(stack.model),
        }
        assert "formulário" in json.dumps(stack.model.requests[0]["messages"], ensure_ascii=False)
    else:
        assert answer == {"template": {"name": "boas_vindas", "params": {"nome": "Juliana"}}, "actions": []}
        assert stack.model.requests == []


def test_an_appointment_is_stored_once_in_the_agenda_and_the_history(stack: Stack) -> None:
    started = time.perf_counter()
    url = stack.n8n_url + "/webhook/kommo-scheduling"
    request = example("request-scheduling.json", N8N_EXAMPLES)
    appointment = request["appointment"]
    appointment["id"] = "apt-test-1"
    assert signed_post(url, request) == (200, {"stored": True})
    stack.timed("appointment stored (one request)", started)
    assert signed_post(url, request) == (200, {"stored": True})  # the service retried: nothing changes
    agenda = stack.postgres.rows("SELECT * FROM agenda_8401234 WHERE id = 'apt-test-1'")
    assert [(row["vendor_id"], row["lead_id"], row["contact_id"], row["status"]) for row in agenda] == [
        (VENDOR, LEAD, CONTACT, "booked")
    ]
    starts = stack.postgres.psql(
        "SELECT starts_at = '2026-11-26T10:00:00-03:00' FROM agenda_8401234 WHERE id = 'apt-test-1'"
    )
    assert starts == "t"
    history = "SELECT status FROM historico WHERE appointment_id = 'apt-test-1' ORDER BY id"
    assert [row["status"] for row in stack.postgres.rows(history)] == ["booked"]

    rescheduled = appointment | {
        "start": "2026-11-27T15:00:00-03:00",
        "end": "2026-11-27T15:30:00-03:00",
        "status": "rescheduled",
    }
    assert signed_post(url, request | {"appointment": rescheduled}) == (200, {"stored": True})
    agenda_status = "SELECT status FROM agenda_8401234 WHERE id = 'apt-test-1'"
    assert [row["status"] for row in stack.postgres.rows(agenda_status)] == ["rescheduled"]
    assert [row["status"] for row in stack.postgres.rows(history)] == ["booked", "rescheduled"]


def test_a_salespersons_first_appointment_creates_their_agenda_view(stack: Stack) -> None:
    newcomer = 8419999  # not in the salesperson list n8n got: no view yet
    assert stack.postgres.psql("SELECT to_regclass('agenda_8419999') IS NULL") == "t"
    request = example("request-scheduling.json", N8N_EXAMPLES)
    request["appointment"] |= {"id": "apt-test-2", "vendor_id": newcomer, "agenda_table": "agenda_8419999"}
    assert signed_post(stack.n8n_url + "/webhook/kommo-scheduling", request) == (200, {"stored": True})
    assert [row["id"] for row in stack.postgres.rows("SELECT id FROM agenda_8419999")] == ["apt-test-2"]
    assert stack.postgres.psql("SELECT vendor_id FROM agenda WHERE id = 'apt-test-2'") == str(newcomer)


def test_agenda_table_no_longer_decides_where_an_appointment_goes(stack: Stack) -> None:
    """The service still sends `agenda_table`: the row goes to `agenda` under its vendor_id whatever it says,
    so a request naming another salesperson's view cannot write there."""
    request = example("request-scheduling.json", N8N_EXAMPLES)
    request["appointment"] |= {"id": "apt-test-elsewhere", "agenda_table": "agenda_8401235"}
    assert signed_post(stack.n8n_url + "/webhook/kommo-scheduling", request) == (200, {"stored": True})
    assert stack.postgres.psql("SELECT vendor_id FROM agenda WHERE id = 'apt-test-elsewhere'") == str(VENDOR)
    shown = "SELECT id FROM agenda_8401234 WHERE id = 'apt-test-elsewhere'"
    assert stack.postgres.rows(shown) == [{"id": "apt-test-elsewhere"}]


@pytest.mark.parametrize("table", ["agenda_x; DROP TABLE historico", "historico", "agenda_Ana", "agenda_" + "x" * 60])
def test_an_agenda_table_name_outside_the_pattern_is_refused(stack: Stack, table: str) -> None:
    request = example("request-scheduling.json", N8N_EXAMPLES)
    request["appointment"] |= {"id": "apt-test-bad", "agenda_table": table}
    status, answer = signed_post(stack.n8n_url + "/webhook/kommo-scheduling", request)
    assert (status, answer["stored"], answer["error"]) == (400, False, "invalid_appointment")
    assert stack.postgres.rows("SELECT id FROM historico WHERE appointment_id = 'apt-test-bad'") == []
    assert stack.postgres.rows("SELECT id FROM agenda WHERE id = 'apt-test-bad'") == []


def test_a_database_failure_answers_503_and_the_retry_stores_the_appointment(stack: Stack) -> None:
    url = stack.n8n_url + "/webhook/kommo-scheduling"
    request = example("request-scheduling.json", N8N_EXAMPLES)
    request["appointment"]["id"] = "apt-test-3"
    stack.postgres.psql("ALTER TABLE historico RENAME TO historico_offline")
    try:
        status, answer = signed_post(url, request)
    finally:
        stack.postgres.psql("ALTER TABLE historico_offline RENAME TO historico")
    assert (status, answer["stored"], answer["error"]) == (503, False, "database_error")
    assert signed_post(url, request) == (200, {"stored": True})
    assert len(stack.postgres.rows("SELECT id FROM agenda_8401234 WHERE id = 'apt-test-3'")) == 1
    assert len(stack.postgres.rows("SELECT id FROM historico WHERE appointment_id = 'apt-test-3'")) == 1


def test_the_service_forwards_a_booking_into_the_agenda_and_a_reschedule_updates_its_row(stack: Stack) -> None:
    """Booked and moved through the service's own routes: its scheduling queue forwards each change,
    signed, to the real kommo-scheduling workflow; the salesperson's view shows the one row."""
    started = time.perf_counter()
    status, free = http("GET", f"{stack.api_url}/vendors/{BRUNO}/availability", headers=OPERATOR)
    assert status == 200 and len(free["slots"]) >= 2, free
    first, later = free["slots"][0]["start"], free["slots"][-1]["start"]
    booking = {"vendor_id": BRUNO, "lead_id": RAFAEL_LEAD, "start": first}
    status, booked = http("POST", f"{stack.api_url}/appointments", json.dumps(booking).encode(), OPERATOR)
    assert status == 201, booked
    appointment = booked["id"]
    in_agenda = f"SELECT vendor_id, lead_id, status, starts_at, created_at FROM agenda WHERE id = '{appointment}'"  # noqa: S608
    [row] = wait_until(lambda: stack.postgres.rows(in_agenda), 60, "the booking forwarded into agenda")
    stack.timed("booking -> agenda row (scheduling queue -> n8n)", started)
    assert (row["vendor_id"], row["lead_id"], row["status"]) == (BRUNO, RAFAEL_LEAD, "booked")
    assert datetime.fromisoformat(row["starts_at"]) == datetime.fromisoformat(first)
    in_view = f"SELECT status FROM agenda_{BRUNO} WHERE id = '{appointment}'"  # noqa: S608
    assert stack.postgres.rows(in_view) == [{"status": "booked"}]

    moved = json.dumps({"start": later}).encode()
    status, answer = http("POST", f"{stack.api_url}/appointments/{appointment}/reschedule", moved, OPERATOR)
    assert status == 200, answer
    wait_until(lambda: stack.postgres.rows(in_view) == [{"status": "rescheduled"}], 60, "the reschedule in agenda")
    [after] = stack.postgres.rows(in_agenda)  # the same row, moved
    assert datetime.fromisoformat(after["starts_at"]) == datetime.fromisoformat(later)
    assert after["created_at"] == row["created_at"]
    history = f"SELECT status FROM historico WHERE appointment_id = '{appointment}' ORDER BY id"  # noqa: S608
    assert [r["status"] for r in stack.postgres.rows(history)] == ["booked", "rescheduled"]


def test_the_salesperson_sync_fills_vendedores(stack: Stack) -> None:
    """The fixture's POST /vendors/sync forwarded the list (kind salespeople) to the real workflow: every
    salesperson the service knows is a row, with a view of their agenda."""
    status, cached = http("GET", f"{stack.api_url}/vendors", headers=OPERATOR)
    assert status == 200 and cached["vendors"]
    expected = sorted([v["vendor_id"], v["name"], v["profile"]["areas"], v["active"]] for v in cached["vendors"])
    ids = ", ".join(str(vendor_id) for vendor_id, *_ in expected)
    stored = f"SELECT id, nome, areas, ativo FROM vendedores WHERE id IN ({ids}) ORDER BY id"  # noqa: S608
    assert [list(row.values()) for row in stack.postgres.rows(stored)] == expected
    views = f"SELECT count(*) FROM vendedores WHERE id IN ({ids}) AND to_regclass('agenda_' || id) IS NOT NULL"  # noqa: S608
    assert stack.postgres.psql(views) == str(len(expected))


SALESPEOPLE: list[dict[str, Any]] = [  # ids of their own, apart from the local run's Kommo users (local/kommo_seed.py)
    {"id": 8419901, "name": "Teste Bot QA", "areas": [], "active": True},
    {"id": 8419902, "name": "Paula Nunes", "areas": ["Auto", "Imóveis"], "active": False},
    {"id": 8419903, "active": True},  # name and areas may be left out (the contract's defaults)
]
STORED_SALESPEOPLE = (
    "SELECT id, nome, areas, ativo, updated_at FROM vendedores WHERE id BETWEEN 8419900 AND 8419999 ORDER BY id"
)


def test_a_salesperson_list_is_stored_and_a_repeat_changes_nothing(stack: Stack) -> None:
    url = stack.n8n_url + "/webhook/kommo-salespeople"
    request = {"version": "2", "kind": "salespeople", "salespeople": SALESPEOPLE}
    assert signed_post(url, request) == (200, {"stored": True, "salespeople": 3, "changed": 3})
    stored = stack.postgres.rows(STORED_SALESPEOPLE)
    assert [[r["id"], r["nome"], r["areas"], r["ativo"]] for r in stored] == [
        [8419901, "Teste Bot QA", [], True],
        [8419902, "Paula Nunes", ["Auto", "Imóveis"], False],
        [8419903, "", [], True],
    ]
    views = "SELECT relname FROM pg_class WHERE relkind = 'v' AND relname LIKE 'agenda_841990_' ORDER BY relname"
    assert [r["relname"] for r in stack.postgres.rows(views)] == ["agenda_8419901", "agenda_8419902", "agenda_8419903"]

    assert signed_post(url, request) == (200, {"stored": True, "salespeople": 3, "changed": 0})
    assert stack.postgres.rows(STORED_SALESPEOPLE) == stored  # not even updated_at moved
    assert len(stack.postgres.rows(views)) == 3

    request["salespeople"] = [SALESPEOPLE[0] | {"active": False}, *SALESPEOPLE[1:]]  # one deactivated in Kommo
    assert signed_post(url, request) == (200, {"stored": True, "salespeople": 3, "changed": 1})
    changed = [
        (before["ativo"], after["ativo"], before["updated_at"] == after["updated_at"])
        for before, after in zip(stored, stack.postgres.rows(STORED_SALESPEOPLE), strict=True)
    ]
    assert changed == [(True, False, False), (False, False, True), (True, True, True)]


@pytest.mark.parametrize(
    ("salespeople", "problem"),
    [
        ([{"id": "8419904", "name": "Ana", "areas": [], "active": True}], "salespeople[0].id"),
        ([{"id": 8419904, "name": "Ana", "areas": "Auto", "active": True}], "salespeople[0].areas"),
        ([{"id": 8419904, "name": "Ana", "areas": []}], "salespeople[0].active"),
        ([{"id": 8419904, "active": True}, {"id": 8419904, "active": False}], "salespeople[1].id"),
        ({"id": 8419904, "active": True}, "salespeople: a list"),
    ],
    ids=["id-as-text", "areas-not-a-list", "no-active", "id-twice", "not-a-list"],
)
def test_a_salesperson_list_outside_the_contract_is_refused(stack: Stack, salespeople: Any, problem: str) -> None:
    request = {"version": "2", "kind": "salespeople", "salespeople": salespeople}
    status, answer = signed_post(stack.n8n_url + "/webhook/kommo-salespeople", request)
    assert (status, answer["stored"], answer["error"]) == (400, False, "invalid_salespeople")
    assert any(problem in text for text in answer["problems"]), answer
    assert stack.postgres.rows("SELECT id FROM vendedores WHERE id = 8419904") == []


def test_the_schema_applies_twice_on_a_new_database(stack: Stack) -> None:
    stack.postgres.psql("CREATE DATABASE fresh", database="postgres")
    stack.postgres.load(SCHEMA, database="fresh")
    stack.postgres.load(SCHEMA, database="fresh")
    relations = "SELECT relname, relkind, relrowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace "
    relations += "AND relkind IN ('r', 'v') ORDER BY relname"
    assert [list(r.values()) for r in stack.postgres.rows(relations, database="fresh")] == [
        ["agenda", "r", True],
        ["historico", "r", True],
        ["n8n_chat_histories", "r", True],
        ["n8n_seen_requests", "r", True],
        ["playbook_company", "r", True],
        ["playbook_faq", "r", True],
        ["playbook_handover_topics", "r", True],
        ["playbook_objections", "r", True],
        ["playbook_offers", "r", True],
        ["playbook_qualification", "r", True],
        ["vendedores", "r", True],
    ]


OLD_LAYOUT = """
CREATE TABLE vendedores (id bigint PRIMARY KEY, nome text NOT NULL DEFAULT '', email text NOT NULL DEFAULT '',
    areas text[] NOT NULL DEFAULT '{}', timezone text NOT NULL DEFAULT 'America/Sao_Paulo',
    agenda_table text UNIQUE, ativo boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE agenda_template (id text PRIMARY KEY, vendor_id bigint NOT NULL, lead_id bigint NOT NULL,
    contact_id bigint, contact_name text NOT NULL DEFAULT '', contact_phone text NOT NULL DEFAULT '',
    starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, status text NOT NULL,
    conversation_id text NOT NULL DEFAULT '', payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE agenda_8401234 (LIKE agenda_template INCLUDING ALL);
CREATE TABLE agenda_ana (LIKE agenda_template INCLUDING ALL);
INSERT INTO vendedores (id, nome, agenda_table) VALUES (8401234, 'Ana Souza', 'agenda_8401234');
INSERT INTO agenda_8401234 (id, vendor_id, lead_id, starts_at, ends_at, status)
    VALUES ('apt-old-1', 8401234, 27754599, '2026-11-26T10:00-03', '2026-11-26T10:30-03', 'booked');
INSERT INTO agenda_ana (id, vendor_id, lead_id, starts_at, ends_at, status)
    VALUES ('apt-old-2', 8401236, 27754601, '2026-11-27T10:00-03', '2026-11-27T10:30-03', 'cancelled');
"""


def test_the_per_salesperson_agenda_tables_of_an_earlier_version_move_into_the_one_table(stack: Stack) -> None:
    """An earlier version's layout (a table per salesperson copied from agenda_template, one of them with
    a profile's own name): the schema, run twice, moves their rows into agenda and puts views in place."""
    stack.postgres.psql("CREATE DATABASE upgraded", database="postgres")
    stack.postgres.psql(OLD_LAYOUT, database="upgraded")
    stack.postgres.load(SCHEMA, database="upgraded")
    stack.postgres.load(SCHEMA, database="upgraded")
    rows = "SELECT id, vendor_id, status FROM agenda ORDER BY id"
    assert [list(r.values()) for r in stack.postgres.rows(rows, database="upgraded")] == [
        ["apt-old-1", 8401234, "booked"],
        ["apt-old-2", 8401236, "cancelled"],
    ]
    relations = "SELECT relname, relkind FROM pg_class WHERE relname LIKE 'agenda%' AND relkind IN ('r', 'v') "
    relations += "ORDER BY relname"
    assert [list(r.values()) for r in stack.postgres.rows(relations, database="upgraded")] == [
        ["agenda", "r"],
        ["agenda_8401234", "v"],
        ["agenda_8401236", "v"],
    ]
    assert stack.postgres.rows("SELECT id FROM agenda_8401234", database="upgraded") == [{"id": "apt-old-1"}]


def test_the_supabase_keys_read_no_agenda_through_a_view(stack: Stack) -> None:
    """Supabase grants its anon role every table and view of `public`; the views run with the reader's
    rights (security_invoker), so agenda's row level security, no policy, shows them nothing."""
    stack.postgres.psql(
        "DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO anon"
    )
    assert stack.postgres.psql("SELECT count(*) FROM agenda_8401234") != "0"
    assert stack.postgres.psql("SET ROLE anon; SELECT count(*) FROM agenda_8401234") == "0"


def test_the_agent_hands_over_to_a_salesperson(stack: Stack) -> None:
    """Last: the bot stays paused for Mariana afterwards."""
    started = time.perf_counter()
    stack.model.reset()
    post_client_message(stack, "n8n-msg-3", "Quero falar com um atendente humano, por favor")
    patch = delivered_reply(stack, "Consultei o sistema")
    stack.timed("client message with the hand-over tool -> reply + pause", started)
    assert "um consultor humano vai assumir" in reply_text(patch)

    def paused() -> bool:
        status, state = http("GET", f"{stack.api_url}/bot/{CONTACT}", headers={"authorization": f"Bearer {API_TOKEN}"})
        return status == 200 and state["status"] == "paused"

    wait_until(paused, 15, "the bot paused for the contact")
    wait_until(
        lambda: any("atendimento humano" in task["text"] for task in tasks(stack)), 10, "a task for the salesperson"
    )
