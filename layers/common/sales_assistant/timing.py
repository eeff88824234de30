"""The process's clock, looked up at each call rather than bound when a module is imported: the adapters
take these as their default clock and sleep, so the simulator's virtual clock (sim/clock.py), which
replaces `time.time`, `time.monotonic` and `time.sleep`, reaches them too."""

from __future__ import annotations

import time


def now() -> float:
    """Unix time, in seconds."""
    return time.time()


def monotonic() -> float:
    """A clock that never goes back, in seconds."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    """Wait `seconds`."""
    time.sleep(seconds)
