"""The circuit breaker shared by every function: Kommo or n8n down means records wait without calling out."""

from __future__ import annotations

from typing import Any

import pytest

from sales_assistant.adapters.breaker import Breaker
from sales_assistant.errors import DependencyDown

NOW = 1_800_000_000.0


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


def breaker(clock: list[float]) -> Breaker:
    """One function's view of the Kommo breaker (every call builds another: they share only DynamoDB)."""
    from sales_assistant.config import get_settings

    return Breaker(get_settings().kommo_table, "kommo", threshold=5, open_seconds=30, clock=lambda: clock[0])


def test_five_failures_in_a_row_open_it_for_every_function(aws: Any, clock: list[float]) -> None:
    for _ in range(5):
        breaker(clock).check()
        breaker(clock).failed()
    with pytest.raises(DependencyDown) as refused:
        breaker(clock).check()  # another Lambda: nothing goes out
    assert refused.value.retry_at == NOW + 30
    assert breaker(clock).status() == {"open": True, "failures": 5, "open_since": int(NOW), "retry_at": int(NOW + 30)}


def test_a_success_between_failures_keeps_it_closed(aws: Any, clock: list[float]) -> None:
    shared = breaker(clock)
    for _ in range(4):
        shared.failed()
    shared.succeeded()
    for _ in range(4):
        shared.failed()
    breaker(clock).check()
    assert breaker(clock).status()["open"] is False


def test_one_probe_at_a_time_and_a_good_probe_closes_it(aws: Any, clock: list[float]) -> None:
    for _ in range(5):
        breaker(clock).failed()
    clock[0] += 31
    prober, other = breaker(clock), breaker(clock)
    prober.check()  # the probe goes out
    with pytest.raises(DependencyDown):
        other.check()  # while it is out, the others wait
    prober.succeeded()
    other.check()
    assert breaker(clock).status() == {"open": False, "failures": 0, "open_since": 0, "retry_at": 0}


def test_a_failed_probe_opens_it_again_for_twice_as_long(aws: Any, clock: list[float]) -> None:
    for _ in range(5):
        breaker(clock).failed()
    clock[0] += 31
    prober = breaker(clock)
    prober.check()
    prober.failed()
    with pytest.raises(DependencyDown) as refused:
        breaker(clock).check()
    assert refused.value.retry_at == clock[0] + 60
