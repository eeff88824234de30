"""A scripted week of 50 leads replayed through the flows on fakes, and the funnel report checked against the
script: every figure, per salesperson and per trigger kind; a replayed trigger, client message, booking or
follow-up changes no count; a count that fails breaks no flow."""

from __future__ import annotations

import copy
import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest

from sales_assistant.api.funnel_page import funnel_page
from sales_assistant.api.reports import FunnelReport, build_report
from sales_assistant.models.appointment import Appointment, BookingRequest, RescheduleRequest
from sales_assistant.models.kommo import LeadField
from sales_assistant.models.n8n import Action, N8nResponse
from sales_assistant.models.queue import FollowUpDue, TriggerDue
from sales_assistant.services.follow_ups import LadderConfig
from sales_assistant.services.funnel import SPEED_BUCKETS
from tests.unit.flows import (
    BUDGET_FIELD,
    HOUR,
    MIN_GAP_SECONDS,
    QUIET_SECONDS,
    SAO_PAULO,
    Fakes,
    follow_ups,
    proactive,
    reactive,
    run_flushes,
    scheduling,
)

ANA, DIEGO = 8401234, 8401237
MONDAY = date(2026, 3, 2)
WEEK = [MONDAY + timedelta(days=day) for day in range(5)]
MEETINGS_DAY = date(2026, 3, 16)


@dataclass
class Lead:
    """One lead of the script and what happens to it."""

    number: int
    kind: str  # form, material or inbound (the client writes first)
    has_phone: bool = True
    deferred: bool = False  # its trigger comes at 08:00, before the salesperson opens
    replies: bool = False  # answers the first message (proactive) or writes again after the answer (inbound)
    qualified: bool = False  # n8n's answer to the reply fills a qualification field
    handed_over: bool = False
    opts_out: bool = False
    books: bool = False
    reschedules: bool = False
    cancels: bool = False
    answers_follow_up: bool = False

    @property
    def lead_id(self) -> int:
        return 27750000 + self.number

    @property
    def contact_id(self) -> int:
        return 93580000 + self.number

    @property
    def salesperson(self) -> int:
        return ANA if self.number % 2 else DIEGO

    @property
    def day(self) -> date:
        return WEEK[(self.number - 1) % 5]

    @property
    def sent(self) -> bool:
        return self.kind != "inbound" and self.has_phone

    @property
    def follow_ups(self) -> int:
        """Only material ladders are configured (one step, 2 h): a material lead that did not reply gets a
        follow-up at 12:00; when it answers it at 13:00, the assistant's answer starts a new ladder, whose
        follow-up goes out at the next day's 12:00 sweep (none after Friday's)."""
        if self.kind != "material" or not self.sent or self.replies:
            return 0
        return 1 + (self.answers_follow_up and self.day < WEEK[-1])

    @property
    def replied(self) -> bool:
        return self.replies or self.answers_follow_up

    @property
    def speed_seconds(self) -> int | None:
        """How long after the lead's creation its first message went out."""
        if not self.sent:
            return None
        if self.deferred:
            return HOUR  # created at 08:00, sent when the salesperson opens at 09:00
        return 30 if self.number <= 20 else 600 if self.kind == "form" else 2 * HOUR


def script() -> list[Lead]:
    """50 leads: 30 forms, 10 materials (5 without a phone), 10 who write first."""
    leads = [Lead(number, "form") for number in range(1, 31)]
    leads += [Lead(number, "material", has_phone=number <= 35) for number in range(31, 41)]
    leads += [Lead(number, "inbound") for number in range(41, 51)]
    by_number = {lead.number: lead for lead in leads}
    for number in [*range(1, 21), *range(41, 46)]:
        by_number[number].replies = True
    for number in range(1, 11):
        by_number[number].qualified = True
    for number in range(11, 14):
        by_number[number].handed_over = True
    for number in (14, 15):
        by_number[number].opts_out = True
    for number in range(1, 7):
        by_number[number].books = True
    by_number[1].reschedules = True
    by_number[2].cancels = True
    by_number[30].deferred = True
    for number in (31, 32, 33):
        by_number[number].answers_follow_up = True
    return leads


def expected(leads: list[Lead]) -> dict[str, int | None]:
    """The funnel's figures the script implies."""
    figures: dict[str, int | None] = {
        "leads_in": len(leads),
        "first_message_sent": sum(lead.sent for lead in leads),
        "first_message_deferred": sum(lead.deferred for lead in leads),
        "first_message_skipped_no_phone": sum(lead.kind != "inbound" and not lead.has_phone for lead in leads),
        "replied": sum(lead.replied for lead in leads),
        "qualified": sum(lead.qualified for lead in leads),
        "meeting_booked": sum(lead.books for lead in leads),
        "meeting_rescheduled": sum(lead.reschedules for lead in leads),
        "meeting_cancelled": sum(lead.cancels for lead in leads),
        "meeting_no_show": 0,
        "handover": sum(lead.handed_over for lead in leads),
        "follow_up_sent": sum(lead.follow_ups for lead in leads),
        "follow_up_replied": sum(lead.answers_follow_up for lead in leads),
        "opted_out": sum(lead.opts_out for lead in leads),
    }
    delays = sorted(lead.speed_seconds for lead in leads if lead.speed_seconds is not None)
    for share in (50, 95):  # the bucket of the delay at that rank (None: no first message went out)
        rank = math.ceil(share / 100 * len(delays)) - 1
        figures[f"speed_to_lead_p{share}_seconds"] = bucket_of(delays[rank]) if delays else None
    return figures


def bucket_of(seconds: int) -> int:
    return next(bound for bound in SPEED_BUCKETS if seconds <= bound)


class Week:
    """The flows on one set of fakes, driven through the script day by day."""

    def __init__(self, leads: list[Lead]) -> None:
        self.leads = leads
        self.fakes = fakes = Fakes(datetime.combine(MONDAY, time(8, 0), SAO_PAULO))
        fakes.add_salesperson(ANA, "Ana Souza", "Auto")
        fakes.add_salesperson(DIEGO, "Diego Ferreira", "Auto")
        fakes.ladder_config = LadderConfig({"material": (2 * HOUR,)})
        fakes.kommo.lead_field_list = [
            LeadField.model_validate({"id": BUDGET_FIELD, "name": "Orçamento", "type": "numeric"})
        ]
        for lead in leads:
            fakes.add_lead(
                lead.lead_id,
                lead.contact_id,
                f"Cliente {lead.number}",
                area="Auto",
                responsible=lead.salesperson,
                phone="+55 11 98765-4321" if lead.has_phone else "",
            )
        self.appointments: dict[int, Appointment] = {}

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        self.fakes.clock.now = datetime.combine(day, time(hour, minute), SAO_PAULO).timestamp()

    def run(self) -> None:
        for day in WEEK:
            today = [lead for lead in self.leads if lead.day == day]
            self.at(day, 8)
            for lead in today:
                if lead.deferred:
                    assert self.trigger(lead, created=int(self.fakes.clock())) == "deferred"
            self.at(day, 9)
            proactive(self.fakes).fire_due()
            self.deliver_triggers()
            self.at(day, 10)
            for lead in today:
                if lead.kind == "inbound":
                    self.writes(lead, "Olá, quero saber do carro")
                elif not lead.deferred:
                    self.trigger(lead, created=int(self.fakes.clock()) - (lead.speed_seconds or 0))
            self.answer_all()
            self.at(day, 10, 30)
            for lead in today:
                if lead.replies:
                    self.n8n_answers(lead)
                    self.writes(lead, "pare" if lead.opts_out else "Tenho interesse, qual o preço?")
            self.answer_all()
            self.at(day, 11)
            for lead in today:
                self.meetings(lead)
            self.at(day, 12)
            self.sweep_follow_ups()
            self.at(day, 13)
            for lead in today:
                if lead.answers_follow_up:
                    self.writes(lead, "Desculpe a demora, ainda quero")
            self.answer_all()

    def trigger(self, lead: Lead, created: int) -> str:
        kind = "form" if lead.kind == "form" else "material"
        request = TriggerDue(lead_id=lead.lead_id, trigger=kind, source="api", lead_created_at=created)
        return proactive(self.fakes).handle(request)

    def deliver_triggers(self) -> None:
        """The lead events queue delivering what the sweep queued."""
        due = [item for item in self.fakes.queue.published if isinstance(item, TriggerDue)]
        self.fakes.queue.published = [item for item in self.fakes.queue.published if item not in due]
        for item in due:
            assert proactive(self.fakes).handle(item) == "sent"

    def writes(self, lead: Lead, text: str) -> None:
        message_id = f"m-{lead.number}-{len(self.fakes.n8n.requests)}-{int(self.fakes.clock())}"
        reactive(self.fakes).receive(
            self.fakes.client_message(message_id, text, lead_id=lead.lead_id, contact_id=lead.contact_id)
        )

    def n8n_answers(self, lead: Lead) -> None:
        """What n8n answers this lead's reply: a field filled, a handover, or a plain reply."""
        actions = []
        if lead.qualified:
            actions.append(Action(type="set_fields", fields={"orcamento": 50000}))
        if lead.handed_over:
            actions.append(Action(type="handover", reason="quer falar com uma pessoa"))
        self.fakes.n8n.answers.append(N8nResponse(reply="Claro! Posso te ajudar.", actions=actions))

    def answer_all(self) -> None:
        self.fakes.clock.now += QUIET_SECONDS + MIN_GAP_SECONDS
        run_flushes(self.fakes, reactive(self.fakes))

    def meetings(self, lead: Lead) -> None:
        if not lead.books:
            return
        service = scheduling(self.fakes)
        start = datetime.combine(MEETINGS_DAY, time(8 + lead.number), SAO_PAULO)
        booked = service.book(
            BookingRequest(
                vendor_id=lead.salesperson, lead_id=lead.lead_id, start=start, idempotency_key=f"book-{lead.number}"
            )
        )
        self.appointments[lead.number] = booked
        if lead.reschedules:
            service.reschedule(booked.appointment_id, RescheduleRequest(start=start + timedelta(hours=6)))
        if lead.cancels:
            service.cancel(booked.appointment_id)

    def sweep_follow_ups(self) -> None:
        flow = follow_ups(self.fakes)
        flow.fire_due()
        due = [item for item in self.fakes.queue.published if isinstance(item, FollowUpDue)]
        self.fakes.queue.published = [item for item in self.fakes.queue.published if item not in due]
        self.follow_ups_sent = getattr(self, "follow_ups_sent", []) + due
        for item in due:
            assert flow.send(item) == "sent"

    def report(self, by: str = "salesperson") -> FunnelReport:
        rows = self.fakes.funnel_counts.days(WEEK[0], WEEK[-1])
        names = {vendor_id: person.name for vendor_id, person in self.fakes.salespeople.salespeople.items()}
        return build_report(rows, WEEK[0], WEEK[-1], by, names, self.fakes.texts, "America/Sao_Paulo")


@pytest.fixture(scope="module")
def week() -> Week:
    week = Week(script())
    week.run()
    return week


def figures(view: dict[str, object]) -> dict[str, object]:
    return {name: view.get(name) for name in expected(script())}


def test_every_figure_of_the_week_matches_the_script(week: Week) -> None:
    assert figures(week.report().view()["total"]) == expected(week.leads)


@pytest.mark.parametrize("salesperson", [ANA, DIEGO])
def test_each_salespersons_figures_match_their_leads(week: Week, salesperson: int) -> None:
    view = week.report().view()
    [line] = [line for line in view["lines"] if line["key"] == str(salesperson)]
    assert line["name"] == {ANA: "Ana Souza", DIEGO: "Diego Ferreira"}[salesperson]
    assert figures(line) == expected([lead for lead in week.leads if lead.salesperson == salesperson])


@pytest.mark.parametrize("kind", ["form", "material", "inbound"])
def test_each_trigger_kinds_figures_match_its_leads(week: Week, kind: str) -> None:
    [line] = [line for line in week.report("trigger").view()["lines"] if line["key"] == kind]
    assert figures(line) == expected([lead for lead in week.leads if lead.kind == kind])


def test_each_day_counts_its_own_leads(week: Week) -> None:
    for day in WEEK:
        rows = week.fakes.funnel_counts.days(day, day)
        assert sum(row.counters.get("leads_in", 0) for row in rows) == 10
    assert week.fakes.funnel_counts.month_totals("2026-03")["leads_in"] == 50


def test_a_replayed_trigger_message_booking_or_follow_up_changes_no_count(week: Week) -> None:
    counts = week.fakes.funnel_counts
    before = copy.deepcopy((counts.day_counters, counts.month_counters))
    first, inbound, booked = week.leads[0], week.leads[40], week.appointments[3]
    friday = WEEK[-1]

    week.at(friday, 17)
    assert week.trigger(first, created=int(week.fakes.clock())) == "repeated"
    reactive(week.fakes).receive(
        week.fakes.client_message(
            f"m-{inbound.number}-0-{int(datetime.combine(inbound.day, time(10), SAO_PAULO).timestamp())}",
            "Olá, quero saber do carro",
            lead_id=inbound.lead_id,
            contact_id=inbound.contact_id,
        )
    )
    week.answer_all()
    scheduling(week.fakes).book(
        BookingRequest(
            vendor_id=booked.vendor_id,
            lead_id=booked.lead_id,
            start=datetime.fromtimestamp(booked.start, SAO_PAULO),
            idempotency_key="book-3",
        )
    )
    flow = follow_ups(week.fakes)
    for item in week.follow_ups_sent:
        flow.send(item)

    assert (counts.day_counters, counts.month_counters) == before


def test_a_failing_count_breaks_no_flow_and_is_not_retried_into_a_double_count() -> None:
    leads = [Lead(1, "form", replies=True)]
    week = Week(leads)
    week.fakes.funnel_counts.failing = True
    week.at(MONDAY, 10)

    assert week.trigger(leads[0], created=int(week.fakes.clock()) - 30) == "sent"
    assert week.fakes.funnel_counts.day_counters == {}
    week.fakes.funnel_counts.failing = False
    week.writes(leads[0], "Oi")
    week.answer_all()

    assert week.fakes.funnel_counts.month_totals("2026-03") == {"leads_in": 1, "replied": 1}


def test_a_booking_whose_lead_cannot_be_read_for_the_funnel_is_still_booked_and_counts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead = Lead(1, "form")
    week = Week([lead])
    week.at(MONDAY, 11)

    def unreadable(conversation_id: str) -> None:
        raise ConnectionError("the conversations table does not answer")

    monkeypatch.setattr(week.fakes.conversations, "get", unreadable)
    start = datetime.combine(MEETINGS_DAY, time(10), SAO_PAULO)
    booked = scheduling(week.fakes).book(BookingRequest(vendor_id=ANA, lead_id=lead.lead_id, start=start))

    assert booked.status == "booked" and week.fakes.agenda.get(booked.appointment_id) == booked
    assert week.fakes.funnel_counts.day_counters == {}


def test_the_csv_has_a_line_per_salesperson_and_the_total(week: Week) -> None:
    table = list(csv.DictReader(io.StringIO(week.report().csv())))
    assert [line["name"] for line in table] == ["Ana Souza", "Diego Ferreira", "Total"]
    assert {name: table[-1][name] for name in ("leads_in", "replied", "meeting_booked")} == {
        "leads_in": "50",
        "replied": str(expected(week.leads)["replied"]),
        "meeting_booked": "6",
    }


def test_the_html_page_draws_the_funnel_and_names_each_salesperson(week: Week) -> None:
    page = funnel_page(week.report(), week.fakes.texts)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert 'data-step="leads_in">Leads recebidos: 50</text>' in page
    assert f'data-line="total" data-counter="replied">{expected(week.leads)["replied"]}</td>' in page
    assert "Ana Souza" in page and "Diego Ferreira" in page and "Não enviada: o contato não tem telefone" in page


def test_a_meeting_marked_no_show_with_faltou_counts_once_for_its_salesperson() -> None:
    from tests.unit.test_no_show_decisions import ANA, MARIANA_LEAD, ana_notes

    fakes = Fakes(datetime(2026, 3, 2, 9, 0, tzinfo=SAO_PAULO))
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, 93589657, "Mariana Costa", area="Auto", responsible=ANA)
    start = datetime(2026, 3, 3, 10, 0, tzinfo=SAO_PAULO)
    scheduling(fakes).book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start))
    fakes.clock.now = datetime(2026, 3, 3, 11, 0, tzinfo=SAO_PAULO).timestamp()

    assert ana_notes(fakes, "/faltou", note_id=501) == "no_show_marked"
    ana_notes(fakes, "/faltou", note_id=501)  # the webhook again

    tuesday = date(2026, 3, 3)
    [row] = fakes.funnel_counts.days(tuesday, tuesday)
    assert (row.salesperson_id, row.counters) == (ANA, {"meeting_no_show": 1})
