"""The account's monthly budget: a scripted month spends it, the alarm's metric passes 80 %, at 100 % the
chosen costly paths are held (each salesperson told once), and the assistant resumes when the budget is raised
or the month turns."""

from __future__ import annotations

from datetime import datetime

import pytest

from local.stack import load_template
from sales_assistant.adapters.switches import KillSwitch
from sales_assistant.models.n8n import N8nResponse
from sales_assistant.models.prices import PriceTable
from sales_assistant.models.queue import FollowUpDue, TriggerDue
from sales_assistant.services import budget as budget_module
from sales_assistant.services.budget import Budget, BudgetConfig
from sales_assistant.services.costs import Costs
from sales_assistant.services.proactive import ProactiveOutreach
from tests.unit.fakes import Task
from tests.unit.flows import HOUR, QUIET_SECONDS, SAO_PAULO, Fakes, follow_ups, proactive, reactive, run_flushes

ANA, BRUNO = 8401234, 8401235  # Ana serves Auto, Bruno Imóveis
ANA_LEADS = [27754601, 27754602, 27754603, 27754604, 27754605, 27754606]  # contacts: lead id + 1,000,000
BRUNO_LEADS = [27754701, 27754702]
MONDAY_10AM = datetime(2026, 12, 7, 10, 0, tzinfo=SAO_PAULO)
# a first message outside the window: a marketing template ($0.0625) and the conversation's AWS share ($0.00054)
FIRST_MESSAGE_MICRO_USD = 62_500 + 540
TASK_TEXT = (
    "O orçamento mensal do assistente (US$ 0.28) foi atingido: até o dia 1º ou até o orçamento ser aumentado, ele "
    "não envia primeiras mensagens e follow-ups. Este lead e os próximos ficam com você."
)


def contact_of(lead_id: int) -> int:
    return lead_id + 1_000_000


def a_month_with_a_budget(stops: frozenset[str], monthly_usd: float = 0.28) -> Fakes:
    """Ana's and Bruno's leads, costs counted, and a budget of `monthly_usd` that holds `stops` when spent."""
    fakes = Fakes(MONDAY_10AM)
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_salesperson(BRUNO, "Bruno Oliveira", "Imóveis")
    for lead_id in ANA_LEADS:
        fakes.add_lead(lead_id, contact_of(lead_id), f"Cliente {lead_id}", area="Auto", responsible=ANA)
    for lead_id in BRUNO_LEADS:
        fakes.add_lead(lead_id, contact_of(lead_id), f"Cliente {lead_id}", area="Imóveis", responsible=BRUNO)
    fakes.costs = Costs(
        fakes.funnel_counts, PriceTable.shipped(), country="BR", timezone="America/Sao_Paulo", clock=fakes.clock
    )
    fakes.budget = Budget(
        fakes.costs, fakes.kommo, fakes.texts, BudgetConfig(monthly_usd=monthly_usd, stops=stops), fakes.switches
    )
    return fakes


@pytest.fixture
def used_percent(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every BudgetUsedPercent the checks send (the metric BudgetAlarm watches)."""
    sent: list[float] = []
    monkeypatch.setattr(budget_module, "measure", lambda name, value, unit: sent.append(value))
    return sent


def form_filled(lead_id: int) -> TriggerDue:
    return TriggerDue(lead_id=lead_id, trigger="form", source="api")


def held(fakes: Fakes, name: str) -> int:
    return fakes.funnel_counts.month_totals("2026-12").get(name, 0)


def sweep(fakes: Fakes, flow: ProactiveOutreach) -> list[str]:
    """The proactive sweep: the deferred first messages it queues, each handled."""
    fakes.queue.published = []
    flow.fire_due()
    return [flow.handle(item) for item in fakes.queue.published if isinstance(item, TriggerDue)]


def test_a_month_that_spends_its_budget_holds_first_messages_and_follow_ups_until_it_is_raised(
    used_percent: list[float],
) -> None:
    fakes = a_month_with_a_budget(frozenset({"first_messages", "follow_ups"}))
    flow = proactive(fakes)

    # five first messages: the fifth is checked at 90 % (4 x 62,970 of 280,000 micro-dollars) and still goes out
    for lead_id in [*ANA_LEADS[:4], BRUNO_LEADS[0]]:
        assert flow.handle(form_filled(lead_id)) == "sent"
    assert [round(percent) for percent in used_percent] == [0, 23, 45, 68, 90]  # the alarm fires at 80 %
    assert fakes.kommo.tasks == []

    # 112 % spent: the next new leads are held, each salesperson told once, on their first lead held
    for lead_id in (ANA_LEADS[4], ANA_LEADS[5], BRUNO_LEADS[1]):
        assert flow.handle(form_filled(lead_id)) == "deferred"
        assert fakes.triggers.triggers[f"{lead_id}-form"].reason == "budget"
        assert "o orçamento mensal do assistente foi atingido" in fakes.kommo.notes_on(lead_id)[0]
    assert fakes.kommo.tasks == [
        Task(f"budget:2026-12:{ANA}", ANA_LEADS[4], ANA, TASK_TEXT),
        Task(f"budget:2026-12:{BRUNO}", BRUNO_LEADS[1], BRUNO, TASK_TEXT),
    ]
    assert held(fakes, "held_by_budget_first_message") == 3
    assert len(fakes.kommo.runs) == 5 and sweep(fakes, flow) == []  # the sweep leaves them parked

    # replies are not among the paths held: the first lead's client is answered, and her follow-up is held
    first_lead, chat = ANA_LEADS[0], reactive(fakes)
    fakes.clock.now += HOUR
    chat.receive(
        fakes.client_message("m-1", "Oi! Quero saber mais", lead_id=first_lead, contact_id=contact_of(first_lead))
    )
    fakes.clock.now += QUIET_SECONDS
    assert run_flushes(fakes, chat) == ["answered"]
    fakes.clock.now += 2 * HOUR
    ladder_flow = follow_ups(fakes)  # her ladder, and the ladders of the four first messages left unanswered
    assert ladder_flow.fire_due() == 5
    due = [item for item in fakes.queue.published if isinstance(item, FollowUpDue)]
    assert [ladder_flow.send(item) for item in due] == ["stopped:budget"] * 5
    assert held(fakes, "held_by_budget_follow_up") == 5
    assert len(fakes.kommo.tasks) == 2  # Ana and Bruno were told already this month

    # the operator raises the budget in the kill-switch parameter: the next sweep sends the leads that waited
    fakes.switches.kill_switch = KillSwitch(monthly_budget_usd=10)
    assert sweep(fakes, flow) == ["sent", "sent", "sent"]
    assert [run.lead_id for run in fakes.kommo.runs][-3:] == [ANA_LEADS[4], ANA_LEADS[5], BRUNO_LEADS[1]]


def test_the_paths_held_open_again_on_the_first_of_the_month(used_percent: list[float]) -> None:
    fakes = a_month_with_a_budget(frozenset({"first_messages"}), monthly_usd=FIRST_MESSAGE_MICRO_USD / 1e6)
    flow = proactive(fakes)
    assert flow.handle(form_filled(ANA_LEADS[0])) == "sent"
    assert flow.handle(form_filled(ANA_LEADS[1])) == "deferred"
    assert sweep(fakes, flow) == []

    fakes.clock.now = datetime(2027, 1, 4, 10, 0, tzinfo=SAO_PAULO).timestamp()  # a Monday, a new month

    assert sweep(fakes, flow) == ["sent"]
    assert fakes.kommo.runs[-1].lead_id == ANA_LEADS[1]


def test_a_budget_that_holds_replies_leaves_the_clients_message_to_the_salesperson(used_percent: list[float]) -> None:
    fakes = a_month_with_a_budget(frozenset({"replies"}), monthly_usd=FIRST_MESSAGE_MICRO_USD / 1e6)
    assert proactive(fakes).handle(form_filled(ANA_LEADS[0])) == "sent"  # first messages are not held
    lead, contact = ANA_LEADS[0], contact_of(ANA_LEADS[0])
    chat = reactive(fakes)
    fakes.n8n.answers.append(N8nResponse(reply="Claro!"))
    fakes.clock.now += HOUR

    chat.receive(fakes.client_message("m-1", "Oi! Quero saber mais", lead_id=lead, contact_id=contact))
    fakes.clock.now += QUIET_SECONDS
    assert run_flushes(fakes, chat) == ["budget"]
    assert fakes.n8n.requests[-1][1].kind == "proactive"  # n8n was not asked for the reply
    assert "o orçamento mensal do assistente foi atingido" in fakes.kommo.notes_on(lead)[-1]
    assert [task.key for task in fakes.kommo.tasks] == [f"budget:2026-12:{ANA}"]
    assert held(fakes, "held_by_budget_reply") == 1

    fakes.switches.kill_switch = KillSwitch(monthly_budget_usd=10)  # raised: the next message is answered
    chat.receive(fakes.client_message("m-2", "Alguém aí?", lead_id=lead, contact_id=contact))
    fakes.clock.now += QUIET_SECONDS
    assert run_flushes(fakes, chat) == ["answered"]


def test_without_a_budget_nothing_is_held_and_no_metric_is_sent(used_percent: list[float]) -> None:
    fakes = a_month_with_a_budget(frozenset({"first_messages", "follow_ups", "replies"}), monthly_usd=0)
    flow = proactive(fakes)

    assert [flow.handle(form_filled(lead_id)) for lead_id in ANA_LEADS] == ["sent"] * len(ANA_LEADS)
    assert used_percent == [] and fakes.kommo.tasks == []


def test_the_stacks_alarm_tells_the_operators_at_80_percent_of_the_budget() -> None:
    alarm = load_template()["Resources"]["BudgetAlarm"]["Properties"]

    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == ("BudgetUsedPercent", "Maximum", 80)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert {"Ref": "AlarmTopic"} in alarm["AlarmActions"]["Fn::If"][2]  # the stack's own topic, always
