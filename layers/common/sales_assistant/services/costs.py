"""What the assistant costs, counted into the sales funnel's store (FunnelCounts) as it is spent, in whole micro-dollars
(1 USD = 1,000,000), priced with the table shipped with the layer (models/prices.py, prices.toml):

- each delivered message, once per message key: `messages_<category>` (marketing, utility, service: how
  WhatsApp bills it) and `cost_whatsapp_micro_usd`;
- each n8n answer, once per answer key: `tokens_input`, `tokens_output` and `cost_llm_micro_usd` from the
  answer's `usage`;
- each conversation, a lead's day with a delivered message: `conversations` (what the report's cost per
  conversation divides by) and `cost_aws_micro_usd`, the benchmark's AWS cost per conversation.

Counting never breaks a flow: a count that fails is logged and metered (FunnelCountsFailed), as funnel.py does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sales_assistant import timing
from sales_assistant.models.funnel import FunnelEvent
from sales_assistant.models.n8n import N8nRequest, Usage
from sales_assistant.models.prices import PriceTable
from sales_assistant.observability import count, logger
from sales_assistant.services.delivery import Outgoing
from sales_assistant.services.funnel import INBOUND

if TYPE_CHECKING:
    from sales_assistant.services.ports.storage import FunnelCounts

MICRO = 1_000_000  # micro-dollars in a dollar
COST_COUNTERS = ("cost_whatsapp_micro_usd", "cost_llm_micro_usd", "cost_aws_micro_usd")


def micro_usd(usd: float) -> int:
    """Dollars as whole micro-dollars."""
    return round(usd * MICRO)


class Costs:
    """Counts what delivered messages and n8n answers cost, per lead, salesperson and trigger kind."""

    def __init__(
        self,
        counts: FunnelCounts,
        prices: PriceTable,
        *,
        country: str,
        timezone: str,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._counts = counts
        self._prices = prices
        self._country = country
        self._zone = ZoneInfo(timezone)
        self._clock = clock

    def delivered(self, outgoing: Outgoing) -> None:
        """A message went out: its category, what WhatsApp bills for it, and the conversation with its AWS share
        (once per lead and day)."""
        today = self._today()
        who = (outgoing.lead_id, outgoing.responsible_user_id, outgoing.trigger)
        self.add(f"messages_{outgoing.category}", *who, once=outgoing.key)
        usd = self._prices.whatsapp_usd(self._country, outgoing.category, today)
        if usd is None:
            logger.warning("no WhatsApp price", extra={"country": self._country, "category": outgoing.category})
        elif micro_usd(usd):
            self.add("cost_whatsapp_micro_usd", *who, once=outgoing.key, amount=micro_usd(usd))
        self.add("conversations", *who, once=today.isoformat())  # what the report shares the cost by
        aws = self._prices.aws_usd_per_conversation(today)
        if aws:
            self.add("cost_aws_micro_usd", *who, once=today.isoformat(), amount=micro_usd(aws))

    def answered(self, key: str, request: N8nRequest, usage: Usage | None) -> None:
        """n8n answered the request of answer `key`: its tokens, and what the chat model bills for them."""
        if usage is None:
            count("AnswersWithoutUsage", kind=request.kind)
            return
        trigger = request.trigger.kind if request.trigger else None
        who = (request.lead.id, request.vendor.id if request.vendor else None, trigger)
        for name, tokens in (("tokens_input", usage.input_tokens), ("tokens_output", usage.output_tokens)):
            if tokens:
                self.add(name, *who, once=key, amount=tokens)
        price = self._prices.llm_price(usage.model, self._today())
        if price is None:
            logger.warning(
                "no price for the chat model: its tokens are counted, not their cost", extra={"model": usage.model}
            )
            return
        cost = micro_usd(price.usd(usage.input_tokens, usage.output_tokens))
        if cost:
            self.add("cost_llm_micro_usd", *who, once=key, amount=cost)

    def _today(self) -> date:
        """The account's day, as the funnel counts it."""
        return datetime.fromtimestamp(self._clock(), self._zone).date()

    def month(self) -> str:
        """The account's month, "YYYY-MM"."""
        return self._today().isoformat()[:7]

    def month_spent_micro_usd(self) -> int:
        """What the account's month has cost so far (every cost counter of the month's totals: one read)."""
        totals = self._counts.month_totals(self.month())
        return sum(totals.get(name, 0) for name in COST_COUNTERS)

    def add(
        self, name: str, lead_id: int, salesperson_id: int | None, trigger: str | None, *, once: str, amount: int = 1
    ) -> None:
        """Add `amount` to counter `name` of the lead's salesperson and trigger kind today, once per `once`."""
        try:
            self._counts.count(
                FunnelEvent(
                    day=self._today(),
                    salesperson_id=salesperson_id or 0,
                    trigger=trigger or INBOUND,
                    name=name,
                    lead_id=lead_id,
                    once_key=f"{name}:{lead_id}:{once}",
                    amount=amount,
                )
            )
        except Exception as error:  # counting never breaks the flow that counts
            logger.warning("cost count failed", extra={"counter": name, "error": type(error).__name__})
            count("FunnelCountsFailed")
