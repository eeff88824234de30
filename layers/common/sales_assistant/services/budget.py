"""The account's monthly budget: MONTHLY_BUDGET_USD (0: none), raised or lowered without a deploy by the
kill-switch parameter's `monthly_budget_usd` (read live, 30 s cache).

What the month spent is the sum of its cost counters (costs.py: WhatsApp, the chat model, AWS), one read of the
month's totals. Every check sends it as the `BudgetUsedPercent` metric, whose alarm fires at 80 %. At 100 % the
paths BUDGET_STOPS names (first_messages, follow_ups, replies) are held, each held message counted once in the
funnel (`held_by_budget_first_message`, `..._follow_up`, `..._reply`), and each salesperson gets one task a
month, on the first lead of theirs held. The paths open again when the month turns (its totals start at 0) or
the budget is raised. Appointment confirmations and reminders, and POST /messages, are never held.

A check that cannot read the totals holds nothing (logged): the budget is a cap on spending, not a
reason to leave clients unanswered while DynamoDB is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sales_assistant.observability import MetricUnit, count, logger, measure
from sales_assistant.services.costs import Costs, micro_usd
from sales_assistant.services.delivery import OutgoingStopped

if TYPE_CHECKING:
    from sales_assistant.services.ports.kommo import LeadNotes
    from sales_assistant.services.ports.storage import LiveBudget
    from sales_assistant.texts import Texts

BudgetPath = Literal["first_messages", "follow_ups", "replies"]
HELD = {
    "first_messages": "held_by_budget_first_message",
    "follow_ups": "held_by_budget_follow_up",
    "replies": "held_by_budget_reply",
}
REASON = "budget"  # why a message is held (texts: skip_budget)


@dataclass(frozen=True)
class BudgetConfig:
    monthly_usd: float = 0.0  # MONTHLY_BUDGET_USD; 0: no budget
    stops: frozenset[str] = frozenset({"first_messages", "follow_ups"})  # BUDGET_STOPS


class Budget:
    """Holds the costly paths once the month's spend reaches the budget."""

    def __init__(
        self, costs: Costs, notes: LeadNotes, texts: Texts, config: BudgetConfig, live: LiveBudget | None = None
    ) -> None:
        self._costs = costs
        self._notes = notes
        self._texts = texts
        self._config = config
        self._live = live

    def limit_usd(self) -> float:
        """The budget now: the live value when an operator set one, else the setting (0: none)."""
        live = self._live.monthly_budget_usd() if self._live else None
        return self._config.monthly_usd if live is None else live

    def used_percent(self) -> float | None:
        """The month's spend as a percentage of the budget, also sent as BudgetUsedPercent (None: no budget, or
        the totals could not be read: logged)."""
        limit = micro_usd(self.limit_usd())
        if not limit:
            return None
        try:
            spent = self._costs.month_spent_micro_usd()
        except Exception as error:
            logger.warning("budget: the month's spend could not be read", extra={"error": type(error).__name__})
            return None
        percent = spent * 100 / limit
        measure("BudgetUsedPercent", percent, MetricUnit.Percent)
        return percent

    def reached(self, path: BudgetPath) -> bool:
        """Whether `path` is held now: the month spent its budget and BUDGET_STOPS names the path."""
        percent = self.used_percent()
        return percent is not None and percent >= 100 and path in self._config.stops

    def stops(
        self, path: BudgetPath, lead_id: int, salesperson_id: int | None, trigger: str | None, once: str
    ) -> str | None:
        """The reason, "budget", when `path` is held now for this lead's message `once` (counted once; the
        salesperson told once a month), else None."""
        if not self.reached(path):
            return None
        count("BudgetHeld", path=path)
        self._costs.add(HELD[path], lead_id, salesperson_id, trigger, once=once)
        if salesperson_id:
            *others, last = [self._texts.render(f"budget_path_{name}") for name in sorted(self._config.stops)]
            paths = f"{', '.join(others)} e {last}" if others else last
            text = self._texts.render("task_budget_reached", budget=f"{self.limit_usd():g}", paths=paths)
            self._notes.task(f"budget:{self._costs.month()}:{salesperson_id}", lead_id, salesperson_id, text)
        return REASON

    def check(self, path: BudgetPath, lead_id: int, salesperson_id: int | None, trigger: str | None, once: str) -> None:
        """Raise OutgoingStopped("budget") when `path` is held now (as the kill switch does)."""
        if self.stops(path, lead_id, salesperson_id, trigger, once):
            raise OutgoingStopped(REASON)
