"""Scheduling end to end: a salesperson's slots, holds, bookings, cancellations and reschedules through
the scheduling routes (the n8n agent's tools), on moto, with the Kommo sandbox and the n8n stand-in."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from local.lambda_events import schedule_event
from tests.conftest import World

if TYPE_CHECKING:
    from sales_assistant.services.scheduling import SchedulingService

ANA = 8401234  # salesperson, Auto, Mon-Fri 09-12 and 13-18 São Paulo, 30-minute meetings
MARIANA_LEAD, MARIANA = 27754599, 93589657  # Ana's lead and its contact
JULIANA_LEAD = 27754601  # another lead
LUCAS_LEAD = 27754602  # a third lead
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def agenda(world: World) -> World:
    """The world with the salespeople synced from the Kommo sandbox, Ana with her profile of
    config/vendor-profiles.json (the local run's profiles work all day)."""
    from local.defaults import SALESPERSON_PROFILES
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings
    from sales_assistant.models.salesperson import SalespersonProfiles

    world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction"))
    world.n8n.requests.clear()  # the sync's salesperson list to n8n: the setup's, not the scenario's
    profiles = SalespersonProfiles.model_validate_json(SALESPERSON_PROFILES.read_text()).vendors
    DynamoSalespeople(get_settings().salespeople_table).save_profile(ANA, profiles[ANA])
    return world


def call(world: World, method: str, path: str, body: Any = None, **query: str) -> tuple[int, Any]:
    """One request to the scheduling function, as API Gateway sends it."""
    return world.api("SchedulingFunction", method, path, body, query=query)


def book(world: World, start: str, lead: int = MARIANA_LEAD, **extra: Any) -> tuple[int, Any]:
    return call(world, "POST", "/appointments", {"vendor_id": ANA, "lead_id": lead, "start": start, **extra})


def working_day(days_ahead: int = 2) -> date:
    """A Monday-to-Friday day at least `days_ahead` days from now that is not a Brazilian holiday."""
    import holidays

    day = datetime.now(SAO_PAULO).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5 or day in holidays.country_holidays("BR", years=day.year):
        day += timedelta(days=1)
    return day


def at(day: date, hhmm: str, zone: ZoneInfo = SAO_PAULO) -> str:
    return datetime.combine(day, time.fromisoformat(hhmm), zone).isoformat()


def scheduling_at(clock: Callable[[], float]) -> SchedulingService:
    """The scheduling service as the routes build it, on another clock (a client confirming minutes later)."""
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.queues import QueuePublisher
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings
    from sales_assistant.services.scheduling import SchedulingService

    settings = get_settings()
    return SchedulingService(
        agenda=DynamoAgenda(settings.appointments_table),
        salespeople=DynamoSalespeople(settings.salespeople_table),
        kommo=kommo_client(settings),
        events=QueuePublisher.from_settings(settings),
        hold_minutes=settings.hold_minutes,
        clock=clock,
    )


def test_a_salesperson_offers_the_slots_of_their_hours_with_its_offset(agenda: World) -> None:
    day = working_day()
    status, answer = call(
        agenda, "GET", f"/vendors/{ANA}/availability", **{"from": at(day, "00:00"), "to": at(day, "23:59")}
    )
    assert status == 200 and answer["vendor_id"] == ANA and answer["timezone"] == "America/Sao_Paulo"
    starts = [slot["start"] for slot in answer["slots"]]
    assert starts[0] == at(day, "09:00") and starts[-1] == at(day, "17:30") and at(day, "12:00") not in starts
    assert len(starts) == 16 and answer["slots"][0]["end"] == at(day, "09:30")  # lunch 12-13 stays free


def test_a_booked_slot_is_no_longer_offered_and_the_appointment_can_be_read(agenda: World) -> None:
    day = working_day()
    status, appointment = book(agenda, at(day, "10:00"))
    assert status == 201 and appointment["status"] == "booked" and appointment["contact_id"] == MARIANA
    assert (appointment["start"], appointment["end"]) == (at(day, "10:00"), at(day, "10:30"))
    _, answer = call(
        agenda, "GET", f"/vendors/{ANA}/availability", **{"from": at(day, "09:00"), "to": at(day, "12:00")}
    )
    assert at(day, "10:00") not in [slot["start"] for slot in answer["slots"]]
    assert call(agenda, "GET", f"/appointments/{appointment['id']}") == (200, appointment)


def test_fifty_clients_booking_one_slot_at_once_get_exactly_one_appointment(
    agenda: World, atomic_dynamodb: None
) -> None:
    start = at(working_day(), "15:00")
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(
            pool.map(lambda lead: book(agenda, start, lead=lead)[0], [MARIANA_LEAD] * 25 + [JULIANA_LEAD] * 25)
        )
    assert sorted(statuses) == [201] + [409] * 49


def test_an_overlapping_slot_is_refused_with_the_nearest_free_slots(agenda: World) -> None:
    day = working_day()
    assert book(agenda, at(day, "10:00"))[0] == 201
    status, answer = book(agenda, at(day, "10:15"), lead=JULIANA_LEAD)  # overlaps 10:00-10:30
    assert status == 409 and answer["error"] == "slot_taken"
    assert [slot["start"] for slot in answer["nearest_free"]] == [at(day, "09:30"), at(day, "10:30"), at(day, "11:00")]
    assert book(agenda, at(day, "10:30"), lead=JULIANA_LEAD)[0] == 201  # back to back is fine


def test_a_held_slot_is_not_offered_to_another_lead_and_the_holder_books_it(agenda: World) -> None:
    start = at(working_day(), "11:00")
    status, hold = call(agenda, "POST", "/holds", {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": start})
    assert status == 201 and hold["start"] == start
    window = {"from": start, "to": at(working_day(), "12:00")}
    _, for_juliana = call(agenda, "GET", f"/vendors/{ANA}/availability", lead_id=str(JULIANA_LEAD), **window)
    _, for_mariana = call(agenda, "GET", f"/vendors/{ANA}/availability", lead_id=str(MARIANA_LEAD), **window)
    assert start not in [slot["start"] for slot in for_juliana["slots"]]
    assert start in [slot["start"] for slot in for_mariana["slots"]]
    assert book(agenda, start, lead=JULIANA_LEAD)[0] == 409
    assert book(agenda, start, hold_id=hold["hold_id"], lead=JULIANA_LEAD)[1]["error"] == "hold_mismatch"
    status, appointment = book(agenda, start, hold_id=hold["hold_id"])
    assert status == 201 and appointment["lead_id"] == MARIANA_LEAD


def test_a_cancelled_appointment_frees_its_slot_for_another_lead(agenda: World) -> None:
    start = at(working_day(), "14:00")
    _, appointment = book(agenda, start)
    status, cancelled = call(agenda, "DELETE", f"/appointments/{appointment['id']}")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["version"] == 2
    assert call(agenda, "DELETE", f"/appointments/{appointment['id']}") == (200, cancelled)  # once is enough
    assert book(agenda, start, lead=JULIANA_LEAD)[0] == 201


def test_the_same_idempotency_key_books_once(agenda: World) -> None:
    start = at(working_day(), "16:00")
    first = book(agenda, start, idempotency_key="lead:27754599:16h")
    again = book(agenda, start, idempotency_key="lead:27754599:16h")
    assert first[0] == again[0] == 201 and first[1] == again[1]
    other = book(agenda, at(working_day(), "16:30"), idempotency_key="lead:27754599:16h")
    assert other[0] == 422 and other[1]["error"] == "idempotency_key_reused"


def test_a_client_who_cancelled_and_asks_again_with_the_same_key_gets_a_new_meeting(agenda: World) -> None:
    """The client books 16h, cancels, then asks for 16h again: the key's meeting was cancelled, so the
    repeat books anew (not the cancelled appointment answered as if booked)."""
    day = working_day()
    start = at(day, "16:00")
    key = "lead:27754599:16h"
    _, first = book(agenda, start, idempotency_key=key)
    assert call(agenda, "DELETE", f"/appointments/{first['id']}")[0] == 200

    status, again = book(agenda, start, idempotency_key=key)

    day_slots = call(
        agenda, "GET", f"/vendors/{ANA}/availability", **{"from": at(day, "15:30"), "to": at(day, "17:00")}
    )[1]["slots"]
    assert status == 201
    assert again["status"] == "booked", f"201 answered with {again['status']!r} appointment {again['id']}"
    assert start not in [slot["start"] for slot in day_slots]
    assert again["id"] != first["id"] and book(agenda, start, idempotency_key=key) == (201, again)


def test_an_idempotency_key_reused_for_another_start_after_a_reschedule_is_refused(agenda: World) -> None:
    """Booked 16:00 with a key, moved to 15:00: the key for 10:00 matches neither the first booking nor
    the current one, so nothing is booked and the caller learns why."""
    day = working_day()
    _, first = book(agenda, at(day, "16:00"), idempotency_key="k-1")
    call(agenda, "POST", f"/appointments/{first['id']}/reschedule", {"start": at(day, "15:00")})

    status, answer = book(agenda, at(day, "10:00"), idempotency_key="k-1")

    assert (status, answer.get("error")) == (422, "idempotency_key_reused"), (status, answer.get("start"))
    for asked in ("16:00", "15:00"):  # the first start or the current one: the meeting as it is now
        assert book(agenda, at(day, asked), idempotency_key="k-1")[1]["start"] == at(day, "15:00")


def test_a_reschedule_moves_the_appointment_and_frees_the_old_slot(agenda: World) -> None:
    day = working_day()
    _, appointment = book(agenda, at(day, "09:00"))
    status, moved = call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "09:15")})
    assert status == 200 and moved["start"] == at(day, "09:15") and moved["version"] == 2  # overlapping move
    assert book(agenda, at(day, "09:45"), lead=JULIANA_LEAD)[0] == 201
    status, moved = call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "15:00")})
    assert status == 200 and book(agenda, at(day, "09:15"), lead=LUCAS_LEAD)[0] == 201


def test_a_reschedule_that_fails_halfway_leaves_the_old_booking_in_place(agenda: World) -> None:
    day = working_day()
    _, appointment = book(agenda, at(day, "10:00"))
    assert book(agenda, at(day, "14:15"), lead=JULIANA_LEAD)[0] == 201  # overlaps the second half of 14:00-14:30
    status, answer = call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "14:00")})
    assert status == 409 and answer["error"] == "slot_taken"
    assert call(agenda, "GET", f"/appointments/{appointment['id']}")[1]["start"] == at(day, "10:00")
    assert book(agenda, at(day, "10:00"), lead=LUCAS_LEAD)[0] == 409  # the old slot is still taken
    assert book(agenda, at(day, "14:00"), lead=LUCAS_LEAD)[0] == 409  # and nothing of the new one was kept


@pytest.mark.parametrize(
    ("start", "code"),
    [
        ("2020-01-06T10:00:00-03:00", "in_the_past"),
        ("2099-01-05T10:00:00-03:00", "beyond_horizon"),
        ("soon", "invalid_body"),
        ("2026-11-26T10:00:00", "invalid_body"),  # no offset: ambiguous
    ],
)
def test_a_start_that_cannot_be_booked_is_refused_with_a_reason(agenda: World, start: str, code: str) -> None:
    status, answer = book(agenda, start)
    assert status == 422 and answer["error"] == code


def test_outside_hours_and_an_unknown_salesperson_are_refused(agenda: World) -> None:
    day = working_day()
    assert book(agenda, at(day, "12:15"))[1]["error"] == "outside_hours"  # lunch
    assert book(agenda, at(day, "17:45"))[1]["error"] == "outside_hours"  # would end after 18:00
    status, answer = call(
        agenda, "POST", "/appointments", {"vendor_id": 999, "lead_id": MARIANA_LEAD, "start": at(day, "10:00")}
    )
    assert status == 404 and answer["error"] == "unknown_vendor"
    status, answer = call(agenda, "GET", "/vendors/999/availability")
    assert status == 404


def test_a_hold_lapses_after_its_minutes_and_the_slot_is_bookable_again(agenda: World) -> None:
    import time as clock

    from sales_assistant.models.appointment import BookingRequest

    start = at(working_day(), "17:00")
    call(agenda, "POST", "/holds", {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": start})
    assert book(agenda, start, lead=JULIANA_LEAD)[0] == 409
    six_minutes_later = scheduling_at(lambda: clock.time() + 6 * 60)
    booked = six_minutes_later.book(BookingRequest(vendor_id=ANA, lead_id=JULIANA_LEAD, start=start))
    assert booked.lead_id == JULIANA_LEAD and booked.status == "booked"


def test_a_held_slot_can_be_booked_by_its_holder_before_the_hold_expires(agenda: World) -> None:
    """The earliest slot offered is at most one grid step past the notice edge (120 min): held at
    09:29 for 11:30 (121 min ahead) and confirmed by the client 3 minutes later (the hold lasts 5), it
    is booked: the hold keeps the slot from the moving notice edge too, not only from other leads."""
    from sales_assistant.errors import AppError
    from sales_assistant.models.appointment import BookingRequest, HoldRequest

    start = datetime.fromisoformat(at(working_day(), "11:30"))
    clock = [start.timestamp() - 121 * 60]
    service = scheduling_at(lambda: clock[0])
    hold = service.hold(HoldRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start))
    clock[0] += 3 * 60
    try:
        service.book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start, hold_id=str(hold["hold_id"])))
    except AppError as refused:
        raise AssertionError(f"held slot refused to its holder 3 min later: {refused.code}") from None
    with pytest.raises(AppError) as unheld:  # without a hold, a slot inside the notice stays refused
        service.book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start - timedelta(minutes=30)))
    assert unheld.value.code == "too_soon"


def test_one_lead_cannot_hold_or_book_a_salespersons_whole_day(agenda: World) -> None:
    """One client steering n8n's agent (whose tools bind the lead and the salesperson, not how often they
    are called) holds one slot at a time and has one appointment to come (LEAD_APPOINTMENTS_MAX)."""
    day = working_day()
    held = [
        call(agenda, "POST", "/holds", {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": at(day, hhmm)})[0]
        for hhmm in ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30")
    ]
    booked = [book(agenda, at(day, hhmm))[0] for hhmm in ("13:00", "13:30", "14:00", "14:30", "15:00", "15:30")]
    _, free = call(agenda, "GET", f"/vendors/{ANA}/availability", **{"from": at(day, "00:00"), "to": at(day, "23:59")})
    assert held.count(201) <= 2 and booked.count(201) <= 2, (held, booked)
    assert len(free["slots"]) == 14  # of 16: one held, one booked


def test_a_lead_holding_a_slot_is_shown_its_hold_and_gets_it_again_for_the_same_slot(agenda: World) -> None:
    day = working_day()
    hold = {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": at(day, "09:00")}
    status, first = call(agenda, "POST", "/holds", hold)
    assert status == 201
    assert call(agenda, "POST", "/holds", hold) == (201, first)  # the agent asking twice: one hold
    status, refused = call(agenda, "POST", "/holds", {**hold, "start": at(day, "10:00")})
    assert (status, refused["error"], refused["hold"]) == (409, "lead_has_hold", first)
    assert call(agenda, "POST", "/holds", {**hold, "lead_id": JULIANA_LEAD, "start": at(day, "10:00")})[0] == 201


def test_a_lead_with_an_appointment_to_come_is_shown_it_to_reschedule_instead(agenda: World) -> None:
    day = working_day()
    _, appointment = book(agenda, at(day, "10:00"))
    status, refused = book(agenda, at(day, "15:00"))
    assert (status, refused["error"], refused["appointments"]) == (409, "lead_has_appointment", [appointment])
    status, refused = call(
        agenda, "POST", "/holds", {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": at(day, "16:00")}
    )
    assert (status, refused["error"]) == (409, "lead_has_appointment")
    moved = call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "15:00")})
    assert moved[0] == 200 and moved[1]["start"] == at(day, "15:00")


def test_a_lead_books_again_once_its_appointment_is_cancelled_or_its_hold_was_booked(agenda: World) -> None:
    day = working_day()
    _, hold = call(agenda, "POST", "/holds", {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": at(day, "09:00")})
    _, appointment = book(agenda, at(day, "09:00"), hold_id=hold["hold_id"])
    assert call(agenda, "DELETE", f"/appointments/{appointment['id']}")[0] == 200
    status, _ = call(agenda, "POST", "/holds", {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": at(day, "11:00")})
    assert status == 201  # the booked hold is no longer the lead's live hold
    assert book(agenda, at(day, "14:00"))[0] == 201


def test_more_appointments_per_lead_when_the_operator_allows_them(
    agenda: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import reset_caches

    monkeypatch.setenv("LEAD_APPOINTMENTS_MAX", "2")
    reset_caches()
    day = working_day()
    assert [book(agenda, at(day, hhmm))[0] for hhmm in ("10:00", "14:00", "16:00")] == [201, 201, 409]
