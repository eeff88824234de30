"""The canary's service with fakes: the watchdog's span (grace period, first run, a day back at most),
the queue check's memory, and a failing check that never hides the others."""

from __future__ import annotations

from typing import Any

from sales_assistant.models.kommo import KommoEvent, KommoLead
from sales_assistant.services.health import FIRST_LOOKBACK_SECONDS, MAX_LOOKBACK_SECONDS, HealthCanary, HealthConfig
from sales_assistant.services.ports.n8n import AiFailure
from sales_assistant.texts import Texts
from tests.unit.fakes import FakeKommo, FakeN8n, InMemoryHealthReports, InMemoryReceivedMessages

NOW = 1_800_000_000
GRACE = 120


def kommo_with_our_webhook() -> FakeKommo:
    """Kommo with the service's webhook subscribed, and contact 5's leads 10 and 12 of salesperson 7."""
    kommo = FakeKommo()
    kommo.webhook_list = [{"destination": "https://api.example/webhooks/kommo/x", "disabled": False}]
    for lead_id in (10, 12):
        kommo.leads[lead_id] = KommoLead.model_validate(
            {"id": lead_id, "responsible_user_id": 7, "_embedded": {"contacts": [{"id": 5}]}}
        )
    return kommo


CLOSED = {"open": 0, "failures": 0, "open_since": 0, "retry_at": 0}


def canary(
    kommo: FakeKommo,
    store: InMemoryHealthReports,
    depths: dict[str, int] | None = None,
    breakers: dict[str, dict[str, int]] | None = None,
) -> HealthCanary:
    return HealthCanary(
        kommo=kommo,
        ai=FakeN8n(down=AiFailure("unreachable")),
        store=store,
        received=InMemoryReceivedMessages("seen"),
        notes=kommo,
        queue_depths=lambda: depths or {},
        paused_bots=lambda: 3,
        breakers=lambda: breakers or {"kommo": CLOSED, "n8n": CLOSED},
        texts=Texts(),
        config=HealthConfig("/webhook/kommo-health", "https://api.example", 600, GRACE),
    )


def event(message_id: str, created_at: int) -> KommoEvent:
    value: dict[str, Any] = {"message": {"id": message_id}}
    return KommoEvent(
        id=f"e-{message_id}",
        type="incoming_chat_message",
        entity_id=5,
        entity_type="contact",
        created_at=created_at,
        value_after=[value],
    )


def test_the_watchdog_judges_from_its_last_stop_to_the_grace_period() -> None:
    kommo, store = kommo_with_our_webhook(), InMemoryHealthReports()
    kommo.events = [event("seen", NOW - 300), event("lost", NOW - 300), event("young", NOW - GRACE + 1)]
    first = canary(kommo, store)
    first.clock = lambda: NOW
    report = first.run()
    assert kommo.asked_from == [NOW - GRACE - FIRST_LOOKBACK_SECONDS]
    assert report.missed_messages == 1 and report.watchdog_until == NOW - GRACE
    tasks = [(task.key, task.lead_id, task.responsible_user_id) for task in kommo.tasks]
    assert tasks == [("missed:lost", 12, 7)]  # the contact's newest lead, its salesperson

    first.clock = lambda: NOW + 300
    assert first.run().missed_messages == 1  # "young" is old enough now
    assert kommo.asked_from[-1] == NOW - GRACE

    first.clock = lambda: NOW + 10 * 86400  # after a long outage: one day back at most
    first.run()
    assert kommo.asked_from[-1] == NOW + 10 * 86400 - GRACE - MAX_LOOKBACK_SECONDS


def test_one_failing_check_leaves_the_others_and_the_report_is_kept() -> None:
    store = InMemoryHealthReports()
    service = canary(kommo_with_our_webhook(), store, depths={"conversations": 2})
    service.clock = lambda: NOW
    report = service.run()
    assert [check.name for check in report.checks if not check.ok] == ["n8n"]
    assert report.bots_paused == 3 and report.backlog_since == {"conversations": NOW}
    assert store.report == report


def test_a_breaker_open_for_over_five_minutes_fails_its_check_and_says_since_when() -> None:
    kommo_down = {"open": 1, "failures": 9, "open_since": NOW - 301, "retry_at": NOW + 60}
    just_opened = {"open": 1, "failures": 5, "open_since": NOW - 60, "retry_at": NOW + 30}
    service = canary(
        kommo_with_our_webhook(), InMemoryHealthReports(), breakers={"kommo": kommo_down, "n8n": just_opened}
    )
    service.clock = lambda: NOW
    [breakers] = [check for check in service.run().checks if check.name == "breakers"]
    assert not breakers.ok and breakers.detail.startswith("kommo open since ") and "n8n" not in breakers.detail
