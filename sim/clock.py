"""The simulation's virtual clock: time stands still until the simulator moves it, and a sleep moves it.

Installed for one run, it replaces what the service and its fakes read the time from: `time.time`,
`time.monotonic` and `time.sleep` (the service, the Kommo sandbox, the n8n stand-in, the local Lambda
context), moto's SQS clock (visibility timeouts and delays: a retry delay of 15 minutes is 15 virtual
minutes) and the clock of Powertools' idempotency records. Nothing sleeps for real: a run of hours of
virtual time takes the seconds its work takes.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

IDEMPOTENCY_MODULES = (  # they read `dt.datetime.now()`
    "aws_lambda_powertools.utilities.idempotency.base",
    "aws_lambda_powertools.utilities.idempotency.persistence.base",
    "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb",
)


class VirtualClock:
    """Unix time that moves only when told: `advance_to`, `advance`, or a sleep."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """A sleep: the clock moves on by `seconds` at once."""
        self.now += max(float(seconds), 0.0)

    def advance_to(self, moment: float) -> None:
        """Move the clock to `moment` (never back)."""
        self.now = max(self.now, float(moment))

    @contextmanager
    def installed(self) -> Iterator[VirtualClock]:
        """The process reads this clock inside the block (and the real one again after it)."""
        patches: list[tuple[Any, str, Any]] = [
            (time, "time", self.time),
            (time, "monotonic", self.time),
            (time, "sleep", self.sleep),
        ]
        patches += _moto_sqs_patches(self)
        patches += [(importlib.import_module(name), "dt", _datetime_module(self)) for name in IDEMPOTENCY_MODULES]
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        for owner, name, value in patches:
            setattr(owner, name, value)
        try:
            yield self
        finally:
            for owner, name, value in saved:
                setattr(owner, name, value)


def _moto_sqs_patches(clock: VirtualClock) -> list[tuple[Any, str, Any]]:
    """moto's SQS keeps its own clock (`unix_time`, in seconds and milliseconds)."""
    import moto.sqs.models

    return [
        (moto.sqs.models, "unix_time", lambda when=None: clock.now if when is None else _unix(when)),
        (moto.sqs.models, "unix_time_millis", lambda when=None: (clock.now if when is None else _unix(when)) * 1000),
    ]


def _unix(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=moment.tzinfo or dt.UTC).timestamp()


def _datetime_module(clock: VirtualClock) -> types.SimpleNamespace:
    """A stand-in for the `datetime` module whose `datetime.now()` reads the virtual clock."""

    class VirtualDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> VirtualDatetime:
            return cls.fromtimestamp(clock.now, tz)

    return types.SimpleNamespace(**{**vars(dt), "datetime": VirtualDatetime})
