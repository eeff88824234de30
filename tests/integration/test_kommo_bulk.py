"""Kommo's bulk calls: flows working at once (the records of one SQS batch) share requests, and each lead
keeps its own answer, its own errors and its order (adapters/kommo/bulk.py), against the sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.kommo_seed import REPLY_FIELD_ID, REPLY_SALESBOT_ID, new_contact, new_lead
from sales_assistant.adapters.kommo import KommoClient, KommoNotFound, KommoUnavailable, KommoValidationError
from sales_assistant.adapters.kommo.client import pooled_session, token_source
from sales_assistant.config import get_settings

FIRST_LEAD = 61_000_000
UNKNOWN_FIELD_ID = 123


class Backlog:
    """The rate limit under a backlog: a slot comes once `expected` calls are gathered, or when no more
    came for `patience` seconds (the calls of one flow step gather, as they do when every slot is
    contested), or at once for a call no other can join (none gathered: a request sent again). The
    patience is long enough for the calls of one step to gather even on a busy machine."""

    def __init__(self, expected: int, patience: float = 3.0) -> None:
        self.expected = expected
        self.patience = patience
        self.client: KommoClient | None = None

    def acquire(self) -> None:
        assert self.client is not None
        seen, still_since = -1, time.monotonic()
        while 0 < (waiting := self.client.calls_waiting()) < self.expected:
            if waiting != seen:
                seen, still_since = waiting, time.monotonic()
            elif time.monotonic() - still_since > self.patience:
                return
            time.sleep(0.005)


def client_under_backlog(sandbox: Any, expected: int) -> KommoClient:
    settings = get_settings().model_copy(update={"kommo_base_url": sandbox.url})
    session = pooled_session()
    limiter = Backlog(expected)
    client = KommoClient(settings.kommo_api_base, token_source(settings, session), limiter, session=session)
    limiter.client = client
    return client


def leads_in(sandbox: Any, how_many: int) -> list[int]:
    sandbox.rate_limit_per_second = 1000
    lead_ids = [FIRST_LEAD + index for index in range(how_many)]
    for lead_id in lead_ids:
        sandbox.leads[lead_id] = new_lead(lead_id, lead_id + 1, "Cliente Teste", "Auto", 11047083)
        sandbox.contacts[lead_id + 1] = new_contact(lead_id + 1, "Cliente Teste", "+55 11 90000-0000")
    return lead_ids


def at_once(lead_ids: list[int], call: Callable[[int], Any]) -> dict[int, Any]:
    """Each lead's call from its own thread (one per SQS record); each lead's answer or error."""

    def outcome(lead_id: int) -> Any:
        try:
            return call(lead_id)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=len(lead_ids)) as pool:
        return dict(zip(lead_ids, pool.map(outcome, lead_ids), strict=True))


def requests_to(sandbox: Any, method: str, path: str) -> list[Any]:
    return [request for request in sandbox.requests if request.method == method and request.path == path]


def reply_of(sandbox: Any, lead_id: int) -> str:
    fields = sandbox.leads[lead_id].get("custom_fields_values") or []
    return next((f["values"][0]["value"] for f in fields if f["field_id"] == REPLY_FIELD_ID), "")


def test_replies_to_ten_leads_share_one_patch_one_salesbot_run_and_one_note(aws: Any, kommo_sandbox: Any) -> None:
    lead_ids = leads_in(kommo_sandbox, 10)
    kommo = client_under_backlog(kommo_sandbox, expected=10)

    def reply(lead_id: int) -> int:
        kommo.patch_lead(lead_id, text_fields={REPLY_FIELD_ID: f"Olá, lead {lead_id}!"})
        kommo.run_salesbot(REPLY_SALESBOT_ID, lead_id)
        return kommo.add_note(lead_id, f"Resposta enviada ao lead {lead_id}")

    note_ids = at_once(lead_ids, reply)

    assert len(kommo_sandbox.requests) == 3
    assert [len(request.body) for request in kommo_sandbox.requests] == [10, 10, 10]
    assert {lead_id: reply_of(kommo_sandbox, lead_id) for lead_id in lead_ids} == {
        lead_id: f"Olá, lead {lead_id}!" for lead_id in lead_ids
    }
    assert sorted(run["entity_id"] for run in kommo_sandbox.salesbot_runs) == lead_ids
    notes = {note["id"]: note for note in kommo_sandbox.notes}
    assert {lead_id: notes[note_ids[lead_id]]["lead_id"] for lead_id in lead_ids} == {lead: lead for lead in lead_ids}


def test_a_lead_kommo_refuses_fails_alone_and_the_others_are_written_once(aws: Any, kommo_sandbox: Any) -> None:
    lead_ids = leads_in(kommo_sandbox, 5)
    refused = lead_ids[2]
    kommo = client_under_backlog(kommo_sandbox, expected=5)

    def reply(lead_id: int) -> None:
        field_id = UNKNOWN_FIELD_ID if lead_id == refused else REPLY_FIELD_ID
        kommo.patch_lead(lead_id, text_fields={field_id: f"Olá, lead {lead_id}!"})

    outcomes = at_once(lead_ids, reply)

    assert isinstance(outcomes.pop(refused), KommoValidationError)
    assert outcomes == {lead_id: None for lead_id in outcomes}
    first, again = requests_to(kommo_sandbox, "PATCH", "/api/v4/leads")
    assert (first.status, len(first.body)) == (400, 5)
    assert (again.status, sorted(lead["id"] for lead in again.body)) == (200, sorted(outcomes))
    assert {lead_id: reply_of(kommo_sandbox, lead_id) for lead_id in lead_ids} == {
        **{lead_id: f"Olá, lead {lead_id}!" for lead_id in outcomes},
        refused: "",
    }


def test_a_note_for_a_deleted_lead_fails_alone_and_every_other_note_is_written_once(
    aws: Any, kommo_sandbox: Any
) -> None:
    lead_ids = leads_in(kommo_sandbox, 6)
    deleted = lead_ids[0]
    del kommo_sandbox.leads[deleted]
    kommo = client_under_backlog(kommo_sandbox, expected=6)

    outcomes = at_once(lead_ids, lambda lead_id: kommo.add_note(lead_id, "Resumo da conversa"))

    assert isinstance(outcomes.pop(deleted), KommoValidationError)
    assert sorted(note["lead_id"] for note in kommo_sandbox.notes) == sorted(outcomes)
    assert len(requests_to(kommo_sandbox, "POST", "/api/v4/leads/notes")) == 2  # refused, then the 5 others


def test_leads_read_at_once_share_one_list_and_a_missing_lead_is_not_found_for_its_reader_only(
    aws: Any, kommo_sandbox: Any
) -> None:
    lead_ids = leads_in(kommo_sandbox, 8)
    missing = lead_ids[-1]
    del kommo_sandbox.leads[missing]
    kommo = client_under_backlog(kommo_sandbox, expected=8)

    outcomes = at_once(lead_ids, kommo.lead)

    assert isinstance(outcomes.pop(missing), KommoNotFound)
    assert {lead_id: lead.id for lead_id, lead in outcomes.items()} == {lead_id: lead_id for lead_id in outcomes}
    assert all(lead.main_contact_id == lead.id + 1 for lead in outcomes.values())
    (listed,) = kommo_sandbox.requests
    assert (listed.path, listed.query["with"]) == ("/api/v4/leads", "contacts")


def test_one_leads_replies_never_share_a_request_and_reach_kommo_in_order(aws: Any, kommo_sandbox: Any) -> None:
    (lead_id,) = leads_in(kommo_sandbox, 1)
    kommo = client_under_backlog(kommo_sandbox, expected=2)
    first_gathered = threading.Event()

    def first() -> None:
        kommo.patch_lead(lead_id, text_fields={REPLY_FIELD_ID: "primeira resposta"})

    def second() -> None:
        first_gathered.wait()
        kommo.patch_lead(lead_id, text_fields={REPLY_FIELD_ID: "segunda resposta"})

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(first)]
        while kommo.calls_waiting() < 1:
            time.sleep(0.001)
        first_gathered.set()
        done.append(pool.submit(second))
        for future in done:
            future.result()

    texts = [request.body["custom_fields_values"][0]["values"][0]["value"] for request in kommo_sandbox.requests]
    assert texts == ["primeira resposta", "segunda resposta"]
    assert reply_of(kommo_sandbox, lead_id) == "segunda resposta"


def test_a_salesbot_request_that_times_out_reaches_every_caller_and_is_never_sent_again(
    aws: Any, kommo_sandbox: Any
) -> None:
    lead_ids = leads_in(kommo_sandbox, 4)
    kommo = client_under_backlog(kommo_sandbox, expected=4)
    kommo_sandbox.fail_next("/api/v2/salesbot/run", 504, after_effect=True)  # Kommo ran them, then failed

    outcomes = at_once(lead_ids, lambda lead_id: kommo.run_salesbot(REPLY_SALESBOT_ID, lead_id))

    assert all(isinstance(outcome, KommoUnavailable) for outcome in outcomes.values())
    assert len(kommo_sandbox.requests) == 1  # an unsafe request is not retried: delivery waits for the echoes
    assert sorted(run["entity_id"] for run in kommo_sandbox.salesbot_runs) == lead_ids


def test_a_refused_shared_salesbot_request_is_never_sent_again_and_every_caller_learns_the_outcome_is_unknown(
    aws: Any, kommo_sandbox: Any
) -> None:
    lead_ids = leads_in(kommo_sandbox, 4)
    del kommo_sandbox.leads[lead_ids[1]]  # Kommo refuses the request for this one
    kommo = client_under_backlog(kommo_sandbox, expected=4)

    outcomes = at_once(lead_ids, lambda lead_id: kommo.run_salesbot(REPLY_SALESBOT_ID, lead_id))

    assert all(isinstance(outcome, KommoUnavailable) for outcome in outcomes.values())  # delivery awaits the echoes
    assert [(request.path, request.status) for request in kommo_sandbox.requests] == [("/api/v2/salesbot/run", 400)]


@pytest.mark.parametrize("lone", ["lead", "patch", "note"])
def test_a_lone_call_goes_out_as_kommos_single_call(aws: Any, kommo_sandbox: Any, lone: str) -> None:
    (lead_id,) = leads_in(kommo_sandbox, 1)
    kommo = client_under_backlog(kommo_sandbox, expected=1)
    {
        "lead": lambda: kommo.lead(lead_id),
        "patch": lambda: kommo.patch_lead(lead_id, status_id=142),
        "note": lambda: kommo.add_note(lead_id, "Nota"),
    }[lone]()
    (request,) = kommo_sandbox.requests
    assert request.path == {"lead": f"/api/v4/leads/{lead_id}", "patch": f"/api/v4/leads/{lead_id}"}.get(
        lone, f"/api/v4/leads/{lead_id}/notes"
    )


def test_a_backlog_of_lone_messages_is_answered_with_shared_requests_and_a_refused_lead_holds_up_no_one(
    world: Any,
) -> None:
    from local.kommo_seed import CLIENTS
    from local.sqs_pump import deliver_batch, receive
    from sales_assistant.adapters.kommo import kommo_client
    from tests.integration.test_reactive_flow import client_message

    leads = {lead_id: contact_id for contact_id, lead_id, *_ in CLIENTS}
    refused = CLIENTS[3][1]
    for lead_id, contact_id in leads.items():
        world.post_webhook(client_message(f"lone-{lead_id}", "oi, tudo bem?", lead=lead_id, contact=contact_id))
    world.pump_client_messages()
    kommo = kommo_client(get_settings())
    kommo.limiter = backlog = Backlog(expected=len(leads))
    backlog.client = kommo
    world.kommo.refused_leads.add(refused)  # Kommo refuses to change this lead for now
    world.kommo.requests.clear()
    url, arn = world.stack.physical_ids["ConversationsQueue"], world.stack.arns["ConversationsQueue"]
    flush_jobs = receive(world.sqs, url)
    assert len(flush_jobs) == len(leads)

    failed = deliver_batch(world.sqs, world.handler("ConversationWorkerFunction"), url, arn, flush_jobs, 0)

    assert [job["MessageId"] for job in flush_jobs if f"lead:{refused}" in job["Body"]] == list(failed)
    answered = sorted(set(leads) - {refused})
    assert sorted(run["entity_id"] for run in world.kommo.salesbot_runs) == answered
    assert [(r.method, r.path, r.status, len(r.body or [])) for r in world.kommo.requests if r.method != "GET"] == [
        ("PATCH", "/api/v4/leads", 400, 6),  # the reply field of six leads; one refused
        ("PATCH", "/api/v4/leads", 200, 5),
        ("POST", "/api/v2/salesbot/run", 202, 5),
        ("POST", "/api/v4/leads/notes", 200, 5),
    ]
    assert [(r.path, r.status) for r in world.kommo.requests if r.method == "GET"] == [
        ("/api/v4/leads", 200),
        ("/api/v4/contacts", 200),
    ]

    world.kommo.refused_leads.clear()  # the lead is free again: its retried job answers it, once
    world.pump()
    assert sorted(run["entity_id"] for run in world.kommo.salesbot_runs) == sorted(leads)
    assert sorted(note["lead_id"] for note in world.kommo.notes) == sorted(leads)
