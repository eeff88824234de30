"""What the assistant costs, counted into the sales funnel's store (FunnelCounts) as it is spent, in whole micro-dollars
(1 USD = 1,000,000), priced with the table shipped with the layer (models/prices.py, prices.toml):

- each delivered message, once per message key: `messages_<category>` (marketing, utility, service: how
  WhatsApp bills it) and `cost_whatsapp_micro_usd`;
- each n8n answer, once per answer key: `tokens_input`, `tokens_output` and `cost_llm_micro_usd` from the
  answer's `usage`;
- each conversation, a lead's day with a delivered message: `conversations` (what the report's cost per
  conversation divides by) and `cost_aws_micro_usd`, the benchmark's AWS cost per conversation.

What is spent at the same moment is counted together, once, in one write (Funnel.add): a delivered message's
category and WhatsApp cost under the message's key, an answer's tokens and LLM cost under the answer's key, a
conversation and its AWS share under the lead's day. Counting never breaks a flow: a count that fails is logged
and metered (FunnelCountsFailed), as the funnel's steps are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sales_assistant import timing
from sales_assistant.models.n8n import N8nRequest, Usage
from sales_assistant.models.prices import PriceTable
from sales_assistant.observability import count, logger
from sales_assistant.services.delivery import Outgoing
from sales_assistant.services.funnel import Funnel

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
        self._funnel = Funnel(counts, timezone, clock=clock)  # its one way of counting, once per key
        self._prices = prices
        self._country = country

    def delivered(self, outgoing: Outgoing) -> None:
        """A message went out: its category with what WhatsApp bills for it (once per message), and the
        conversation with its AWS share (once per lead and day)."""
        today = self._funnel.today()
        who = (outgoing.lead_id, outgoing.responsible_user_id, outgoing.trigger)
        usd = self._prices.whatsapp_usd(self._country, outgoing.category, today)
        if usd is None:
            logger.warning("no WhatsApp price", extra={"country": self._country, "category": outgoing.category})
        billed = {"cost_whatsapp_micro_usd": micro_usd(usd or 0)}
        self.add(f"messages_{outgoing.category}", *who, once=outgoing.key, also=billed)
        aws = {"cost_aws_micro_usd": micro_usd(self._prices.aws_usd_per_conversation(today) or 0)}
        self.add("conversations", *who, once=today.isoformat(), also=aws)  # what the report shares the cost by

    def answered(self, key: str, request: N8nRequest, usage: Usage | None) -> None:
        """n8n answered the request of answer `key`: its tokens, and what the chat model bills for them (once)."""
        if usage is None:
            count("AnswersWithoutUsage", kind=request.kind)
            return
        trigger = request.trigger.kind if request.trigger else None
        who = (request.lead.id, request.vendor.id if request.vendor else None, trigger)
        price = self._prices.llm_price(usage.model, self._funnel.today())
        if price is None:
            logger.warning(
                "no price for the chat model: its tokens are counted, not their cost", extra={"model": usage.model}
            )
        cost = micro_usd(price.usd(usage.input_tokens, usage.output_tokens)) if price else 0
        billed = {"tokens_output": usage.output_tokens, "cost_llm_micro_usd": cost}
        self.add("tokens_input", *who, once=key, amount=usage.input_tokens, also=billed)

    def month(self) -> str:
        """The account's month, "YYYY-MM"."""
        return self._funnel.today().isoformat()[:7]

    def month_spent_micro_usd(self) -> int:
        """What the account's month has cost so far (every cost counter of the month's totals: one read)."""
        totals = self._counts.month_totals(self.month())
        return sum(totals.get(name, 0) for name in COST_COUNTERS)

    def add(
        self,
        name: str,
        lead_id: int,
        salesperson_id: int | None,
        trigger: str | None,
        *,
        once: str,
        amount: int = 1,
        also: Mapping[str, int] | None = None,
    ) -> None:
        """Add `amount` to counter `name` (and `also`'s counters with it, in the same write) of the lead's salesperson
        and trigger kind today, once per `once`: Funnel.add, whose once key, `<name>:<lead>:<once>`, is what each
        first counter had before they were grouped, so a message or answer counted then still counts nothing."""
        self._funnel.add(name, lead_id, salesperson_id, trigger, once, amount, also=also)
