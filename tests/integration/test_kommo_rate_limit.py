"""The shared Kommo rate limit under demand above Kommo's 7 requests/s, on a virtual clock: many
callers (threads standing for concurrent Lambdas, each with its own limiter) share one DynamoDB
bucket on moto; minutes pass in seconds."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from sales_assistant.adapters.aws import dynamodb_table
from sales_assistant.adapters.kommo import KommoUnavailable
from sales_assistant.adapters.kommo.rate_limit import RATE_KEY, SharedRateLimiter
from sales_assistant.config import get_settings

T0 = 1_795_521_600.0  # a Monday, 09:00 in São Paulo
KOMMO_LIMIT = 7


class VirtualTime:
    """A clock that moves only when every caller sleeps: it jumps to the earliest wake-up."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._lock = threading.Lock()
        self._awake = 0
        self._alarms: list[tuple[float, int, threading.Event]] = []
        self._numbers = itertools.count()
        self._threads: list[threading.Thread] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        rung = threading.Event()
        with self._lock:
            heapq.heappush(self._alarms, (self.now + max(seconds, 0.0), next(self._numbers), rung))
            self._awake -= 1
            self._advance_if_all_asleep()
        rung.wait()

    def spawn(self, work: Callable[[], None]) -> None:
        """Start `work` in a thread of its own, now."""
        with self._lock:
            self._awake += 1
        thread = threading.Thread(target=self._lifetime, args=(work,))
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        """Wait until every thread spawned (also those spawned meanwhile) has ended."""
        while self._threads:
            self._threads.pop(0).join()

    def _lifetime(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            with self._lock:
                self._awake -= 1
                self._advance_if_all_asleep()

    def _advance_if_all_asleep(self) -> None:
        if self._awake or not self._alarms:
            return
        self.now = self._alarms[0][0]
        while self._alarms and self._alarms[0][0] <= self.now:
            heapq.heappop(self._alarms)[2].set()
            self._awake += 1


@pytest.fixture
def virtual_time(aws: Any, atomic_dynamodb: None) -> Iterator[VirtualTime]:
    yield VirtualTime(T0)


def busiest_window(arrivals: list[float]) -> int:
    """The most requests Kommo saw in any 1-second window."""
    ordered = sorted(arrivals)
    return max(sum(1 for t in ordered[i:] if t - start < 1.0) for i, start in enumerate(ordered))


def test_fifty_callers_offering_ten_calls_a_second_keep_kommo_at_its_limit_for_two_minutes(
    virtual_time: VirtualTime,
) -> None:
    chance = random.Random(7)
    arrivals: list[float] = []
    refused: list[float] = []

    def busy_machine_sleep(seconds: float) -> None:  # every sleep lasts up to 20 ms longer
        virtual_time.sleep(seconds + chance.uniform(0, 0.02))

    def one_call(limiter: SharedRateLimiter) -> None:
        try:
            limiter.acquire()
        except KommoUnavailable:
            refused.append(virtual_time.now)
            return
        arrivals.append(virtual_time.now + chance.uniform(0, 0.03))  # the network's delay varies by 30 ms

    def caller(index: int) -> None:  # a Lambda receiving a message every 5 s: 50 of them offer 10 calls/s
        limiter = SharedRateLimiter(
            get_settings().kommo_table, KOMMO_LIMIT, clock=virtual_time.clock, sleep=busy_machine_sleep
        )
        virtual_time.sleep(index * 0.1)
        while virtual_time.now < T0 + 120:
            virtual_time.spawn(lambda: one_call(limiter))
            virtual_time.sleep(5.0)

    for index in range(50):
        virtual_time.spawn(partial(caller, index))
    virtual_time.join()

    per_second = [sum(1 for t in arrivals if T0 + s <= t < T0 + s + 1) for s in range(1, 120)]
    assert min(per_second) >= 6  # every second, as close to 7 as whole requests allow
    assert sum(per_second) / len(per_second) >= 0.9 * KOMMO_LIMIT
    assert busiest_window(arrivals) <= KOMMO_LIMIT
    assert refused  # the demand really was above the limit


def test_a_caller_after_a_burst_of_300_calls_is_served_at_once(aws: Any) -> None:
    now = [T0]
    waits: list[float] = []
    limiter = SharedRateLimiter(get_settings().kommo_table, KOMMO_LIMIT, clock=lambda: now[0], sleep=waits.append)

    def served() -> bool:
        try:
            limiter.acquire()
        except KommoUnavailable:
            return False
        return True

    burst = [served() for _ in range(300)]  # 300 calls in the same instant
    assert burst.count(True) == 127  # a slot every 158 ms for the next 20 s; the others refused at no cost
    assert len(waits) == 126 and max(waits) == pytest.approx(19.908)

    now[0] = T0 + 21  # the burst's last slot is past
    waits.clear()
    limiter.acquire()
    assert waits == []  # served at once: the refused calls left no backlog behind
    bucket = dynamodb_table(get_settings().kommo_table).get_item(Key={"pk": RATE_KEY})["Item"]
    assert int(bucket["next_at"]) == int(now[0] * 1000) + 158


def test_a_refused_call_books_nothing(aws: Any) -> None:
    now = [T0]
    limiter = SharedRateLimiter(get_settings().kommo_table, KOMMO_LIMIT, clock=lambda: now[0], sleep=lambda _: None)
    table = dynamodb_table(get_settings().kommo_table)
    table.put_item(Item={"pk": RATE_KEY, "next_at": int(T0 * 1000) + 25_000})  # 25 s of backlog
    with pytest.raises(KommoUnavailable, match="backlog of 25000 ms"):
        limiter.acquire()
    assert int(table.get_item(Key={"pk": RATE_KEY})["Item"]["next_at"]) == int(T0 * 1000) + 25_000


def test_a_caller_that_wakes_up_late_gives_its_slot_up_for_a_new_one(aws: Any) -> None:
    now = [T0]
    sleeps: list[float] = []

    def oversleep(seconds: float) -> None:  # a busy machine: the first sleep lasts 300 ms longer
        sleeps.append(seconds)
        now[0] += seconds + (0.3 if len(sleeps) == 1 else 0)

    limiter = SharedRateLimiter(get_settings().kommo_table, KOMMO_LIMIT, clock=lambda: now[0], sleep=oversleep)
    limiter.acquire()  # idle bucket: slot now, no sleep
    limiter.acquire()  # next slot in 158 ms, but woke 300 ms late: gives it up and reserves again (now free)
    assert sleeps == [pytest.approx(0.158)]
    bucket = dynamodb_table(get_settings().kommo_table).get_item(Key={"pk": RATE_KEY})["Item"]
    assert int(bucket["next_at"]) == int(now[0] * 1000) + 158  # the slot actually used starts a new spacing
