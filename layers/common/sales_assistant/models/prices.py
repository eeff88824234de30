"""The price table (sales_assistant/prices.toml, shipped with the layer): what WhatsApp bills per message, what
the chat model bills per token, and the service's own AWS bill per conversation. Every price carries the day
it applies from and its source."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import ConfigDict, Field

from sales_assistant.models import Model

PRICES_FILE = Path(__file__).parent.parent / "prices.toml"
MessageCategory = Literal["marketing", "utility", "service"]


class _Price(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: date
    source: str = Field(min_length=1)


class WhatsAppPrice(_Price):
    """One delivered message of `category` to a number of `country` (ISO 3166 alpha-2)."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    category: MessageCategory
    usd_per_message: float = Field(ge=0)


class LlmPrice(_Price):
    """The chat model's tokens, per million of each kind."""

    model: str = Field(min_length=1)
    usd_per_million_input: float = Field(ge=0)
    usd_per_million_output: float = Field(ge=0)

    def usd(self, input_tokens: int, output_tokens: int) -> float:
        """What an answer of these tokens costs."""
        return (input_tokens * self.usd_per_million_input + output_tokens * self.usd_per_million_output) / 1e6


class AwsPrice(_Price):
    """The service's own AWS bill for one conversation (the benchmark's: docs/benchmarks.md)."""

    usd_per_conversation: float = Field(ge=0)


P = TypeVar("P", bound=_Price)


class PriceTable(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    whatsapp: list[WhatsAppPrice]
    llm: list[LlmPrice]
    aws: list[AwsPrice]

    @classmethod
    @cache
    def shipped(cls) -> PriceTable:
        """The table shipped with the layer (read once per process)."""
        return cls.model_validate(tomllib.loads(PRICES_FILE.read_text(encoding="utf-8")))

    def whatsapp_usd(self, country: str, category: MessageCategory, on: date) -> float | None:
        """What one delivered message costs on `on` (None: the table has no price for it)."""
        rows = [row for row in self.whatsapp if row.country == country and row.category == category]
        row = _in_force(rows, on)
        return row.usd_per_message if row else None

    def llm_price(self, model: str, on: date) -> LlmPrice | None:
        """The price of the longest model name of the table that begins `model` (a dated snapshot such as
        gpt-4.1-mini-2025-04-14 is priced as gpt-4.1-mini), in force on `on`; None: not in the table."""
        names = [row.model for row in self.llm if model.startswith(row.model)]
        if not names:
            return None
        longest = max(names, key=len)
        return _in_force([row for row in self.llm if row.model == longest], on)

    def aws_usd_per_conversation(self, on: date) -> float | None:
        row = _in_force(self.aws, on)
        return row.usd_per_conversation if row else None


def _in_force(rows: list[P], on: date) -> P | None:
    """The row with the latest date not after `on`."""
    applying = [row for row in rows if row.date <= on]
    return max(applying, key=lambda row: row.date) if applying else None
