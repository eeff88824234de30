"""The simulator's checkers can fail: for each invariant, a short story with a planted fault (sim/plants.py:
a fault-injecting double of one adapter) that breaks it, replayed with `python -m sim --replay`. With the
plant the simulator names that invariant; the same story without it passes, so the failure is the plant's.

Each replay runs in its own process (the simulator starts its own moto, which cannot nest in the tests'
session), all of them side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sim.invariants import INVARIANTS
from sim.plants import PLANTS

ROOT = Path(__file__).resolve().parents[2]
Step = dict[str, Any]

WEEKDAY_MORNING = 4  # Wed 2027-09-08 10:04 in São Paulo: every salesperson is at work
NIGHT = 2  # Thu 2027-05-06 03:32 in São Paulo: no salesperson is at work
SALESPERSON = 8401235  # Imóveis, São Paulo, 08:00-17:00
NEXT_STATUS = 61234568  # the pipeline's next stage


def client_writes(lead: int, say: str = "hello") -> Step:
    return {"do": "client_writes", "lead": lead, "say": say}


def salesperson_types(lead: int, verb: str) -> Step:
    return {"do": "command", "lead": lead, "verb": verb}


def wait(seconds: int) -> Step:
    return {"do": "wait", "seconds": seconds}


@dataclass(frozen=True)
class Story:
    """A short story in which the plant breaks the invariant (and nothing breaks without the plant)."""

    plant: str
    seed: int
    steps: list[Step]


STORIES: dict[str, Story] = {
    # A client writes and is answered; the salesperson takes over with /assumir; the client writes again.
    "1 never over a human": Story(
        "talks_over_human",
        WEEKDAY_MORNING,
        [client_writes(0), wait(120), salesperson_types(0, "assumir"), wait(30), client_writes(0, "price"), wait(600)],
    ),
    # A client asks the price and waits ten minutes for an answer.
    "2 answered once or noted": Story("drops_answers", WEEKDAY_MORNING, [client_writes(0, "price"), wait(600)]),
    # A lead fills a form at 03:32: the first message waits for the salesperson's morning.
    "3 first messages in bounds": Story(
        "first_message_any_time", NIGHT, [{"do": "trigger", "lead": 2, "kind": "form"}, wait(600)]
    ),
    # A client asks the price, is answered, goes quiet for 25 hours, then downloads material: only a
    # template may greet them now.
    "4 templates outside 24 h": Story(
        "free_text_outside_window",
        WEEKDAY_MORNING,
        [client_writes(0, "price"), wait(600), wait(25 * 3600), {"do": "trigger", "lead": 0, "kind": "material"}],
    ),
    # Two leads of the same salesperson ask for a meeting at the same moment: n8n offers both the same slot.
    "5 appointments consistent": Story(
        "double_booking",
        WEEKDAY_MORNING,
        [
            {"do": "responsible", "lead": 2, "to": SALESPERSON},
            {"do": "responsible", "lead": 3, "to": SALESPERSON},
            client_writes(2, "meeting"),
            client_writes(3, "meeting"),
            wait(600),
        ],
    ),
    # A client is answered (the service keeps the lead it read); a salesperson moves the lead on in Kommo.
    "6 beliefs match Kommo": Story(
        "stale_belief",
        WEEKDAY_MORNING,
        [client_writes(0, "price"), wait(60), {"do": "status", "lead": 0, "to": NEXT_STATUS}, wait(30)],
    ),
    # Four clients write at the same moment: their answers are due at the same second.
    "7 Kommo's rate respected": Story(
        "no_rate_limit",
        WEEKDAY_MORNING,
        [client_writes(0), client_writes(2, "price"), client_writes(3), client_writes(4, "price"), wait(60)],
    ),
    # A salesperson takes over with /assumir, and Kommo posts that webhook again.
    "8 replay changes nothing": Story(
        "replay_not_idempotent", WEEKDAY_MORNING, [salesperson_types(0, "assumir"), wait(30), {"do": "replay"}]
    ),
    # A salesperson takes over with /assumir.
    "9 nothing lost": Story("poison", WEEKDAY_MORNING, [salesperson_types(0, "assumir"), wait(60)]),
}


@dataclass(frozen=True)
class Replayed:
    exit_code: int
    output: str


def replay(folder: Path, invariant: str, plant: str) -> Replayed:
    """Write the invariant's story as a replay file, with `plant` (or none), and run `python -m sim --replay`
    on it (one process per world: the services bind the clock they find when first imported)."""
    story = STORIES[invariant]
    path = folder / f"{invariant.split()[0]}-{plant or 'clean'}.json"
    path.write_text(json.dumps({"seed": story.seed, "invariant": invariant, "plant": plant, "steps": story.steps}))
    finished = subprocess.run(  # noqa: S603 - this interpreter, on a file the test wrote
        [sys.executable, "-m", "sim", "--replay", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Replayed(finished.returncode, finished.stdout + finished.stderr[-2000:])


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Replayed]:
    """Every story with its plant and without, side by side (the longest first): (invariant, planted) -> run."""
    folder = tmp_path_factory.mktemp("replays")
    longest_first = sorted(STORIES, key=lambda name: -sum(step.get("seconds", 0) for step in STORIES[name].steps))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        runs = {
            (invariant, planted): pool.submit(replay, folder, invariant, STORIES[invariant].plant if planted else "")
            for invariant in longest_first
            for planted in (True, False)
        }
        return {run: future.result() for run, future in runs.items()}


def test_every_invariant_has_a_planted_violation() -> None:
    assert set(STORIES) == set(INVARIANTS)
    assert sorted(story.plant for story in STORIES.values()) == sorted(PLANTS)


@pytest.mark.parametrize("invariant", list(STORIES))
def test_the_simulator_reports_the_planted_violation(invariant: str, replays: dict[tuple[str, bool], Replayed]) -> None:
    planted = replays[(invariant, True)]
    assert planted.exit_code == 1, planted.output
    assert f"fails: {invariant} after step" in planted.output, planted.output


@pytest.mark.parametrize("invariant", list(STORIES))
def test_the_same_story_without_the_plant_passes(invariant: str, replays: dict[tuple[str, bool], Replayed]) -> None:
    clean = replays[(invariant, False)]
    assert clean.exit_code == 0, clean.output
    assert f"passes now (it broke {invariant!r})" in clean.output, clean.output
