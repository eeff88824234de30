"""`make bench`: every performance goal measured in one run, and one table of them.

Each benchmark's `measure()` runs in a fresh interpreter of its own (each builds its own world: moto, the
Kommo sandbox, the environment, the handlers), one after the other, at the sizes below: together a few
minutes on a 2-core machine. A row scaled down from the goal's own size says so; the modules' flags reach
the full sizes. Prints one table (goal, target, measured, measured / target, met); with `--write-doc` it
also becomes the "Latest run" section of docs/benchmarks.md, with the machine and the date. The
services' logs and metrics go to LOG. Run: `make bench` (or python -m bench.goals [--write-doc]).
"""

from __future__ import annotations

import argparse
import multiprocessing
import operator
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import cold_start, cost, intake_latency, kommo_rate_limit, saturation, speed_to_lead, worker_overhead
from bench.harness import KOMMO_LIMIT

# Sizes: each benchmark's, chosen so that the whole run stays well under 10 minutes here.
COLD_START_RUNS = 9
INTAKE_WEBHOOKS = 500  # of each kind
WORKER_MESSAGES = 40
GOAL_BACKLOG = 1000  # client messages: the goal's backlog, 200 conversations x 5 messages
SATURATION_CONVERSATIONS, SATURATION_MESSAGES = 200, 5
LONE_CONVERSATIONS = 1000  # the lone-message backlog: one message in each of 1,000 conversations
SATURATION_WORKERS = 5  # ConversationsMaxConcurrency
LEADS, LEADS_SECONDS = 500, 60  # the goal's burst: 500 leads created within a minute
LEAD_WORKERS = 2  # LeadEventsMaxConcurrency
LIMITER_CALLS, LIMITER_WORKERS = 70, 8
COST_CONVERSATIONS = 6

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
LOG = Path(tempfile.gettempdir()) / "bench-goals.log"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    "=": operator.eq,
}
T = TypeVar("T")


@dataclass(frozen=True)
class Goal:
    """A row of the table: the goal, its target (`comparison` `target`), the figure measured, `form`
    formatting both (e.g. "{:.1f} ms"), and what the figure is made of (`detail`)."""

    name: str
    comparison: str
    target: float
    measured: float
    form: str
    detail: str = ""

    @property
    def met(self) -> bool:
        """Whether the figure meets the target."""
        return COMPARISONS[self.comparison](self.measured, self.target)

    def cells(self) -> list[str]:
        """goal, target, measured (and its detail), measured / target, met."""
        measured = self.form.format(self.measured) + (f" ({self.detail})" if self.detail else "")
        ratio = f"{self.measured / self.target:.2f}" if self.target else "-"
        return [
            self.name,
            f"{self.comparison} {self.form.format(self.target)}",
            measured,
            ratio,
            "yes" if self.met else "no",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-doc", action="store_true", help=f"write the table into {DOC.name}")
    args = parser.parse_args()
    LOG.write_text("")
    started = time.time()
    goals: list[Goal] = []
    for group in (
        cold_start_goals,
        intake_goals,
        worker_goals,
        saturation_goals,
        speed_goals,
        limiter_goals,
        cost_goals,
    ):
        goals += group()
    minutes, seconds = divmod(round(time.time() - started), 60)
    table = markdown_table(goals)
    print(table)
    print(f"[bench] whole run {minutes} min {seconds} s; the services' logs: {LOG}", file=sys.stderr)
    if args.write_doc:
        write_doc(table, f"{minutes} min {seconds} s")


def cold_start_goals() -> list[Goal]:
    """The cold start's rows: the slowest and the largest function against `import boto3`."""
    result = isolated(cold_start.measure, COLD_START_RUNS)
    (slowest, time_ratio), (largest, memory_ratio) = result.worst()
    of = f"x `import boto3`, median of {result.runs} fresh interpreters"
    return [
        Goal(
            f"Cold start: the slowest function's import, {of}",
            "<=",
            cold_start.TIME_GOAL,
            time_ratio,
            "{:.2f}x",
            slowest,
        ),
        Goal(
            f"Cold start: the largest function's peak memory, {of}",
            "<=",
            cold_start.MEMORY_GOAL,
            memory_ratio,
            "{:.2f}x",
            largest,
        ),
    ]


def intake_goals() -> list[Goal]:
    """The intake's row: p99 of the slowest kind of webhook."""
    results = isolated(intake_latency.measure, INTAKE_WEBHOOKS)
    kind = max(results, key=lambda kind: results[kind].percentile(0.99))
    webhooks = len(results[kind].timings)
    name = f"Intake: p99 warm, in process ({webhooks} webhooks of each of {len(results)} kinds, the slowest)"
    return [Goal(name, "<=", 20, results[kind].percentile(0.99), "{:.1f} ms", kind)]


def worker_goals() -> list[Goal]:
    """Kommo calls per answered message, one message at a time."""
    result = isolated(worker_overhead.measure, WORKER_MESSAGES)
    name = f"Kommo calls per answered message, one message at a time ({result.answered} in turn)"
    detail = ", ".join(f"{calls / result.answered:g} {kind}" for kind, calls in result.kommo_calls.items())
    return [Goal(name, "<=", 3, result.kommo_per_answer, "{:.2f}", detail)]


def saturation_goals() -> list[Goal]:
    """The saturation rows: each backlog's answered messages per second, then both backlogs' losses
    and doubles and Kommo's busiest second."""
    backlogs = [
        isolated(saturation.measure, SATURATION_CONVERSATIONS, SATURATION_MESSAGES, SATURATION_WORKERS),
        isolated(saturation.measure, LONE_CONVERSATIONS, 1, SATURATION_WORKERS),
    ]
    goals = []
    for result in backlogs:
        kind = "a lone-message backlog" if result.messages == 1 else "a backlog"
        scale = "" if result.posted == GOAL_BACKLOG else f" of {GOAL_BACKLOG:,}"
        name = (
            f"Saturation, {kind}: {result.posted}{scale} messages, {result.messages} in each of "
            f"{result.conversations} conversations, {result.workers} workers: answered messages/s, first to last reply"
        )
        detail = (
            f"whole run {result.answered_per_second:.2f}/s; "
            f"{result.kommo_per_answer:.2f} Kommo requests per answered message"
        )
        goals.append(Goal(name, ">=", 5, result.replying_per_second, "{:.2f}", detail))
    lost, twice = sum(result.lost for result in backlogs), sum(result.duplicated for result in backlogs)
    unconfirmed = sum(result.unconfirmed for result in backlogs)
    busiest = max(result.kommo.busiest_second for result in backlogs)
    throttled = sum(result.kommo.throttled for result in backlogs)
    return [
        *goals,
        Goal(
            "Saturation, both backlogs: messages lost or answered twice",
            "=",
            0,
            lost + twice,
            "{:.0f}",
            f"lost {lost}, twice {twice}; {unconfirmed} runs unconfirmed, each tasked to its salesperson",
        ),
        Goal(
            "Saturation, both backlogs: the most Kommo requests in a 1-second window",
            "<=",
            KOMMO_LIMIT,
            busiest,
            "{:.0f}",
            f"{throttled} x 429",
        ),
    ]


def speed_goals() -> list[Goal]:
    """Speed to lead: the longest wait for a first message."""
    result = isolated(speed_to_lead.measure, LEADS, LEADS_SECONDS, LEAD_WORKERS)
    name = (
        f"Speed to lead: {result.leads} leads created over {result.over_seconds:g} s, {result.workers} workers: "
        f"the longest wait for the first message (never sent: {result.missing})"
    )
    detail = (
        f"p95 {result.percentile(0.95):.1f} s, {result.within:.0%} within {speed_to_lead.WITHIN_SECONDS:.0f} s, "
        f"{result.kommo_per_first_message:.1f} Kommo requests per lead at {result.kommo.rate:.2f}/s, "
        f"{result.kommo.throttled} x 429"
    )
    longest = max(result.waits) if not result.missing else float("inf")
    return [Goal(name, "<=", speed_to_lead.WITHIN_SECONDS, longest, "{:.1f} s", detail)]


def limiter_goals() -> list[Goal]:
    """The limiter's rows: its rate with demand, and Kommo's busiest second."""
    result = isolated(kommo_rate_limit.measure, LIMITER_CALLS, LIMITER_WORKERS)
    of = f"{result.calls} calls from {result.workers} workers"
    return [
        Goal(
            f"Limiter: Kommo requests/s with demand, first to last arrival ({of})",
            ">=",
            0.9 * KOMMO_LIMIT,
            result.kommo.rate,
            "{:.2f}",
            f"{result.kommo.rate / KOMMO_LIMIT:.1%} of {KOMMO_LIMIT}/s",
        ),
        Goal(
            f"Limiter: the most Kommo requests in a 1-second window ({of})",
            "<=",
            KOMMO_LIMIT,
            result.kommo.busiest_second,
            "{:.0f}",
            f"{result.kommo.throttled} x 429",
        ),
    ]


def cost_goals() -> list[Goal]:
    """The cost of 1,000 conversations."""
    result = isolated(cost.measure, COST_CONVERSATIONS)
    per = result["per_1000_conversations"]
    name = (
        f"Cost: AWS per 1,000 conversations of {cost.MESSAGES_PER_CONVERSATION} client messages "
        f"(from {result['measured']['conversations']})"
    )
    largest = max(per["usd_by_service"], key=per["usd_by_service"].get)
    detail = f"{largest} ${per['usd_by_service'][largest]:.2f}"
    return [Goal(name, "<", 0.5, per["usd_total"], "${:.2f}", detail)]


def isolated(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a fresh interpreter of its own, its output appended to LOG; how long it took
    goes to stderr."""
    started = time.time()
    print(f"[bench] {function.__module__}.{function.__name__}{args}", end="", file=sys.stderr, flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_quiet, initargs=(str(LOG),)) as pool:
        result = pool.submit(function, *args).result()
    print(f": {time.time() - started:.0f} s", file=sys.stderr)
    return result


def _quiet(log: str) -> None:
    """Send this process's output (the services' logs and metrics) to the file `log`."""
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(descriptor, sys.stdout.fileno())
    os.dup2(descriptor, sys.stderr.fileno())


def markdown_table(goals: list[Goal]) -> str:
    """The goals as a Markdown table."""
    rows = [["goal", "target", "measured", "measured / target", "met"], ["---"] * 5, *(goal.cells() for goal in goals)]
    return "\n".join(f"| {' | '.join(row)} |" for row in rows)


def write_doc(table: str, took: str) -> None:
    """Replace (or add, after the introduction) the "Latest run" section of DOC with `table`."""
    machine = (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )
    section = (
        f"## Latest run\n\n`make bench` (`python -m bench.goals --write-doc`, sizes in `bench/goals.py`) on "
        f"{machine}; the whole run took {took}.\n\n{table}\n\n"
    )
    text = DOC.read_text()
    start = text.find("## Latest run")
    if start == -1:
        start = end = text.index("\n## ") + 1
    else:
        following = text.find("\n## ", start)
        end = following + 1 if following != -1 else len(text)
    DOC.write_text(text[:start] + section + text[end:])


if __name__ == "__main__":
    main()
