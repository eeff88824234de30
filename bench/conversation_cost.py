"""What one of the benchmark's conversations costs in all, split into WhatsApp, the AI's tokens and AWS, priced
with the table the service counts costs with (layers/common/sales_assistant/prices.toml).

The conversation is bench/cost.py's: a client begins it and writes MESSAGES_PER_CONVERSATION messages, each
answered by the AI with one free-form reply inside the 24-hour window (a WhatsApp service message, and one chat
model answer). A second shape adds what a trigger brings: the assistant writes first to a new lead, whose window
is closed, so with a marketing template (one more chat model answer). AWS is the table's price per conversation,
which is bench/cost.py's measured figure. The tokens per answer are an assumption, stated below (the benchmark's
n8n stand-in calls no chat model, so it reports none).

Run: `python -m bench.conversation_cost` (prints the table), `--write-doc` (writes it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench.cost import MESSAGES_PER_CONVERSATION
from sales_assistant.models.prices import MessageCategory, PriceTable

# Assumption, per chat model answer: the reply agent's instructions and playbook (about 1,500 tokens), the
# request's lead, salesperson, trigger and up to 20 turns of history (about 700), and the client's messages and
# one tool call's second completion (about 300); the answer, a WhatsApp reply of about 500 characters, at the
# fake model's rule of a token per 4 characters (scripts/n8n_fake_model.py).
INPUT_TOKENS_PER_ANSWER = 2_500
OUTPUT_TOKENS_PER_ANSWER = 125
MODEL = "gpt-4.1-mini"  # the shipped workflows' chat model
COUNTRY = "BR"
PRICED_ON = date(2026, 12, 3)
SERVICE_BILLED_FROM = date(2026, 10, 1)  # before it, WhatsApp billed no free-form reply inside the window
DOC = Path(__file__).parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- conversation-cost:start -->", "<!-- conversation-cost:end -->"


@dataclass(frozen=True)
class Shape:
    """A conversation: the messages WhatsApp bills, by category, and the chat model's answers."""

    name: str
    messages: dict[MessageCategory, int]
    answers: int


BENCHMARK = Shape(
    f"the benchmark's: the client writes first, {MESSAGES_PER_CONVERSATION} messages, each answered",
    {"service": MESSAGES_PER_CONVERSATION},
    MESSAGES_PER_CONVERSATION,
)
WITH_TRIGGER = Shape(
    "a trigger's: a first message (marketing template), then the same exchanges",
    {"marketing": 1, "service": MESSAGES_PER_CONVERSATION},
    MESSAGES_PER_CONVERSATION + 1,
)


def split(shape: Shape, on: date, prices: PriceTable | None = None) -> dict[str, float]:
    """The conversation's cost in USD on `on`: whatsapp, llm and aws (a price missing from the table fails)."""
    table = prices or PriceTable.shipped()
    whatsapp = 0.0
    for category, number in shape.messages.items():
        usd = table.whatsapp_usd(COUNTRY, category, on)
        if usd is None:
            raise LookupError(f"no WhatsApp price for {COUNTRY} {category} on {on}")
        whatsapp += number * usd
    llm, aws = table.llm_price(MODEL, on), table.aws_usd_per_conversation(on)
    if llm is None or aws is None:
        raise LookupError(f"no price for {MODEL} or AWS on {on}")
    answer = llm.usd(INPUT_TOKENS_PER_ANSWER, OUTPUT_TOKENS_PER_ANSWER)
    return {"whatsapp": whatsapp, "llm": shape.answers * answer, "aws": aws}


def markdown(prices: PriceTable | None = None) -> str:
    """The doc's table: each shape priced on PRICED_ON, per conversation, its split and per 1,000; and what the
    benchmark's conversation cost while service messages were free."""
    rows = [
        "| conversation | WhatsApp | LLM | AWS | total | per 1,000 conversations |",
        "|---|---|---|---|---|---|",
    ]
    for shape in (BENCHMARK, WITH_TRIGGER):
        cost = split(shape, PRICED_ON, prices)
        total = sum(cost.values())
        shares = {name: f"${usd:.5f} ({usd / total:.0%})" for name, usd in cost.items()}
        rows.append(
            f"| {shape.name} | {shares['whatsapp']} | {shares['llm']} | {shares['aws']} "
            f"| **${total:.4f}** | ${total * 1000:.2f} |"
        )
    table = prices or PriceTable.shipped()
    before = table.whatsapp_usd(COUNTRY, "service", SERVICE_BILLED_FROM - timedelta(days=1))
    cost = split(BENCHMARK, PRICED_ON, prices)
    earlier = cost["llm"] + cost["aws"] + MESSAGES_PER_CONVERSATION * (before or 0.0)
    rows.append(
        f"\nPriced on {PRICED_ON} ({COUNTRY}, {MODEL}, {INPUT_TOKENS_PER_ANSWER:,} input and "
        f"{OUTPUT_TOKENS_PER_ANSWER} output tokens per answer). Before {SERVICE_BILLED_FROM} WhatsApp billed a "
        f"reply inside the window ${before or 0:.4f}, so the benchmark's conversation cost ${earlier:.4f} "
        f"(${earlier * 1000:.2f} per 1,000)."
    )
    return "\n".join(rows)


def with_table(doc: str, prices: PriceTable | None = None) -> str:
    """`doc` with the table between its START and END markers replaced by today's."""
    before, rest = doc.split(START, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{START}\n{markdown(prices)}\n{END}{after}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-doc", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    if args.write_doc:
        DOC.write_text(with_table(DOC.read_text()))
    print(markdown())


if __name__ == "__main__":
    main()
