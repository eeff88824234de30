"""Runs seeds: draws a seed's steps, applies them to a fresh world, checks every invariant after every
step, and at the end (once the queues drain) the ones that hold only then. A failing run is shrunk to
the shortest step list that still fails the same invariant, and saved for `--replay`."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.invariants import INVARIANTS
from sim.steps import Step, Story, apply_step, draw_steps
from sim.world import open_world

START = 1_798_761_600  # 2027-01-01 00:00 UTC: each seed starts somewhere in that year
YEAR = 365 * 24 * 3600
DRAIN_LIMIT_SECONDS = 48 * 3600  # the outage budget's retries end long before
LEAD_COUNT = 10
FAILURES = Path("sim-failures")
SHRINK_RUNS = 40  # a failing seed is shrunk for at most this many runs (each a few seconds to a minute)


@dataclass
class Outcome:
    """One run: the checks made and the violations found, per invariant, and the first one's step."""

    seed: int
    steps: list[Step]
    checks: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    first: tuple[str, int, str] | None = None  # (invariant, step index, what)
    metrics: Counter[str] = field(default_factory=Counter)
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.first is not None


def start_of(seed: int) -> float:
    """Where in 2027 a seed's clock starts (any day and hour: weekends, holidays and DST changes come up)."""
    return START + (seed * 2_654_435_761) % YEAR


def run(seed: int, steps: list[Step], *, plant: str = "", stop_at_first: bool = False) -> Outcome:
    """Apply `steps` in the world of `seed` (with a planted fault, tests/sim), checking as it goes."""
    from sim.plants import planted

    began = time.perf_counter()
    outcome = Outcome(seed, steps)
    leads = max([LEAD_COUNT, *(step["lead"] + 1 for step in steps if "lead" in step)])
    with open_world(seed, start_of(seed), leads) as world, planted(plant, world):
        from local.lambda_events import schedule_event

        world.invoke("VendorSyncFunction", schedule_event("first-sync"))
        story = Story(started=world.clock.now)
        for index, step in enumerate(steps):
            apply_step(world, story, step)
            _check(world, story, outcome, index, final=False)
            if stop_at_first and outcome.failed:
                break
        else:
            world.drained = world.settle(DRAIN_LIMIT_SECONDS)
            _check(world, story, outcome, len(steps), final=True)
        outcome.metrics = world.metrics
        outcome.facts = facts(world, story)
    outcome.seconds = time.perf_counter() - began
    return outcome


def facts(world: Any, story: Story) -> dict[str, Any]:
    """What a run ends with: client messages and their answers, Kommo's load, dead letters, virtual time."""
    from bench.harness import KommoLoad

    answers = sum(1 for entry in world.kommo.chat if entry["from"] == "assistant")
    load = KommoLoad.of([r for r in world.kommo.requests if r.path != "/oauth2/access_token"])
    return {
        "client messages": len(story.messages),
        "assistant messages": answers,
        "notes": len(world.kommo.notes),
        "tasks": len(world.kommo.tasks),
        "Kommo requests": load.requests,
        "busiest second": load.busiest_second,
        "dead letters": sum(world.dead_letters().values()),
        "virtual hours": round((world.clock.now - story.started) / 3600, 1),
    }


def _check(world: Any, story: Story, outcome: Outcome, index: int, *, final: bool) -> None:
    for name, check in INVARIANTS.items():
        outcome.checks[name] += 1
        found = check(world, story, final)
        if found:
            outcome.violations[name] += len(found)
            if outcome.first is None:
                outcome.first = (name, index, found[0])


def shrink(seed: int, steps: list[Step], invariant: str, plant: str = "", budget: int = SHRINK_RUNS) -> list[Step]:
    """A shorter step list that still breaks `invariant` (removing chunks, then single steps), from `steps`
    (the run up to its first violation); at most `budget` runs, the shortest found by then."""
    runs = 0

    def still_fails(candidate: list[Step]) -> bool:
        nonlocal runs
        runs += 1
        outcome = run(seed, candidate, plant=plant, stop_at_first=True)
        return outcome.first is not None and outcome.first[0] == invariant

    failing = steps
    chunk = max(len(failing) // 2, 1)
    while chunk >= 1 and runs < budget:
        index, reduced = 0, False
        while index < len(failing) and runs < budget:
            candidate = failing[:index] + failing[index + chunk :]
            if candidate and still_fails(candidate):
                failing, reduced = candidate, True
            else:
                index += chunk
        if not reduced:
            chunk //= 2
    return failing


def save_replay(path: Path, seed: int, steps: list[Step], invariant: str, plant: str = "") -> None:
    """Write a replay file: the seed, the steps, what broke."""
    path.write_text(json.dumps({"seed": seed, "invariant": invariant, "plant": plant, "steps": steps}, indent=1))


def load_replay(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def draw(seed: int, step_count: int) -> list[Step]:
    return draw_steps(seed, step_count, LEAD_COUNT)


def run_seed(job: tuple[int, int, str, bool]) -> tuple[int, Counter[str], Counter[str], Counter[str], str, float]:
    """Run one seed (in a worker process); on a failure, shrink it and save it for `--replay`. Returns its counts."""
    seed, step_count, plant, shrinking = job
    steps = draw(seed, step_count)
    outcome = run(seed, steps, plant=plant)
    failure = ""
    if outcome.first is not None:
        invariant, index, what = outcome.first
        shortest = shrink(seed, steps[: index + 1], invariant, plant) if shrinking else steps[: index + 1]
        FAILURES.mkdir(exist_ok=True)
        path = FAILURES / f"seed-{seed}{'-' + plant if plant else ''}.json"
        save_replay(path, seed, shortest, invariant, plant)
        failure = (
            f"{invariant}: {what} (after step {index}; {len(shortest)} steps replay it: python -m sim --replay {path})"
        )
    return seed, outcome.checks, outcome.violations, outcome.metrics, failure, outcome.seconds
