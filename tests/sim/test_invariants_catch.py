"""The simulator's checkers can fail: for each invariant, a planted fault (sim/plants.py: a fault-injecting
double of one adapter) and a short story of the sales team in which it breaks that invariant, replayed with
`python -m sim --replay`. With the plant the simulator names that invariant; the same story without any plant
passes, so the failure is the plant's. Some stories serve several invariants (each world costs seconds).

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

import pytest

from sim.invariants import INVARIANTS
from sim.plants import PLANTS
from sim.steps import NEXT_STATUS, Step

ROOT = Path(__file__).resolve().parents[2]

WEEKDAY_MORNING = 4  # Wed 2027-09-08 10:04 in São Paulo: every salesperson is at work
NIGHT = 2  # Thu 2027-05-06 03:32 in São Paulo: no salesperson is at work
SALESPERSON = 8401235  # Imóveis, São Paulo, 08:00-17:00


def client_writes(lead: int, say: str = "hello") -> Step:
    return {"do": "client_writes", "lead": lead, "say": say}


def salesperson_types(lead: int, verb: str) -> Step:
    return {"do": "command", "lead": lead, "verb": verb}


def wait(seconds: int) -> Step:
    return {"do": "wait", "seconds": seconds}


@dataclass(frozen=True)
class Story:
    """A short story of the sales team: steps on one seed's world. Nothing in it breaks an invariant."""

    name: str
    seed: int
    steps: list[Step]


BUSY_MORNING = Story(  # four clients write at once; a salesperson moves one lead on, another takes over a chat
    "busy-morning",
    WEEKDAY_MORNING,
    [
        client_writes(0),
        client_writes(2, "price"),
        client_writes(3),
        client_writes(4, "price"),
        wait(60),
        {"do": "status", "lead": 0, "to": NEXT_STATUS},
        salesperson_types(5, "assumir"),
        wait(30),
    ],
)
TAKEOVER = Story(  # a client is answered; the salesperson types /assumir (Kommo posts it twice); the client writes
    "takeover",
    WEEKDAY_MORNING,
    [
        client_writes(0),
        wait(120),
        salesperson_types(0, "assumir"),
        wait(30),
        {"do": "replay"},
        client_writes(0, "price"),
        wait(600),
    ],
)
NIGHT_FORM = Story(  # a lead fills a form at 03:32: the first message waits for the salesperson's morning
    "night-form", NIGHT, [{"do": "trigger", "lead": 2, "kind": "form"}, wait(600)]
)
QUIET_DAY = Story(  # a client is answered, goes quiet for 25 hours, then downloads material: a template greets them
    "quiet-day",
    WEEKDAY_MORNING,
    [client_writes(0, "price"), wait(600), wait(25 * 3600), {"do": "trigger", "lead": 0, "kind": "material"}],
)
TWO_MEETINGS = Story(  # two leads of one salesperson ask for a meeting at the same moment: n8n offers the same slot
    "two-meetings",
    WEEKDAY_MORNING,
    [
        {"do": "responsible", "lead": 2, "to": SALESPERSON},
        {"do": "responsible", "lead": 3, "to": SALESPERSON},
        client_writes(2, "meeting"),
        client_writes(3, "meeting"),
        wait(600),
    ],
)

FOLLOW_UP_OVER_A_REPLY = Story(  # a client writes again while n8n is down: the fallback promises a person, no follow-up
    "follow-up-over-a-reply",
    WEEKDAY_MORNING,
    [
        {"do": "responsible", "lead": 0, "to": SALESPERSON},
        client_writes(0),
        wait(120),
        {"do": "outage", "of": "n8n", "seconds": 1200},
        client_writes(0, "price"),
        wait(1800),
    ],
)
OPT_OUT_AND_BACK = Story(  # a client answered writes "Pare", gets nothing more; writes "voltar", gets follow-ups again
    "opt-out-and-back",
    WEEKDAY_MORNING,
    [
        {"do": "responsible", "lead": 0, "to": SALESPERSON},
        client_writes(0),
        wait(60),
        client_writes(0, "stop"),
        wait(2 * 3600),
        client_writes(0, "back"),
        wait(2 * 3600),
    ],
)
QUALIFYING = Story(  # n8n fills fields (allowed, a bad value, names not in QUALIFICATION_FIELDS) and wants a deal won
    "qualifying",
    WEEKDAY_MORNING,
    [
        step
        for lead, kind in enumerate(["set_fields", "set_fields_bad", "set_fields_unknown", "move_status_outside"])
        for step in ({"do": "n8n_answers", "kind": kind}, client_writes(lead), wait(60))
    ],
)
QUIET_CLIENT = Story(  # a client goes quiet twice: two ladders, but no more follow-ups than FOLLOW_UP_MAX_PER_LEAD
    "quiet-client",
    WEEKDAY_MORNING,
    [
        {"do": "responsible", "lead": 0, "to": SALESPERSON},
        client_writes(0),
        wait(4 * 3600),
        client_writes(0, "price"),
        wait(2 * 3600),
    ],
)

PLANTED: dict[str, tuple[str, Story]] = {  # invariant -> the plant that breaks it, and the story where it shows
    "1 never over a human": ("talks_over_human", TAKEOVER),
    "2 answered once or noted": ("drops_answers", BUSY_MORNING),
    "3 first messages in bounds": ("first_message_any_time", NIGHT_FORM),
    "4 templates outside 24 h": ("free_text_outside_window", QUIET_DAY),
    "5 appointments consistent": ("double_booking", TWO_MEETINGS),
    "6 beliefs match Kommo": ("stale_belief", BUSY_MORNING),
    "7 Kommo's rate respected": ("no_rate_limit", BUSY_MORNING),
    "8 replay changes nothing": ("replay_not_idempotent", TAKEOVER),
    "9 nothing lost": ("poison", BUSY_MORNING),
    "10 follow-ups after assistant": ("follows_up_over_a_reply", FOLLOW_UP_OVER_A_REPLY),
    "11 nothing first after opt-out": ("ignores_opt_out", OPT_OUT_AND_BACK),
    "12 only qualification fields": ("writes_any_field", QUALIFYING),
    "13 only allowed statuses": ("closes_deals", QUALIFYING),
    "14 follow-ups at most N": ("forgets_follow_ups_sent", QUIET_CLIENT),
}
STORIES = {story.name: story for _, story in PLANTED.values()}


@dataclass(frozen=True)
class Replayed:
    exit_code: int
    output: str


def replay(path: Path, story: Story, invariant: str = "", plant: str = "") -> Replayed:
    """Write the story as a replay file at `path` (with `plant`, or none) and run `python -m sim --replay` on
    it: one process per world (the services keep the clock they find when first imported)."""
    path.write_text(json.dumps({"seed": story.seed, "invariant": invariant, "plant": plant, "steps": story.steps}))
    finished = subprocess.run(  # noqa: S603 - this interpreter, on a file the test wrote
        [sys.executable, "-m", "sim", "--replay", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}", "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Replayed(finished.returncode, finished.stdout + finished.stderr[-2000:])


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Replayed]:
    """Each invariant's story with its plant, and each story without any, side by side (the longest first):
    invariant or story name -> the run."""
    folder = tmp_path_factory.mktemp("replays")
    runs = [(invariant, story, plant) for invariant, (plant, story) in PLANTED.items()]
    runs += [(name, story, "") for name, story in STORIES.items()]
    runs.sort(key=lambda run: -sum(step.get("seconds", 0) for step in run[1].steps))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        started = {
            name: pool.submit(replay, folder / f"{name.replace(' ', '-')}.json", story, name, plant)
            for name, story, plant in runs
        }
        return {name: run.result() for name, run in started.items()}


def test_every_invariant_has_a_planted_violation() -> None:
    assert set(PLANTED) == set(INVARIANTS)
    assert sorted(plant for plant, _ in PLANTED.values()) == sorted(PLANTS)


@pytest.mark.parametrize("invariant", list(PLANTED))
def test_the_simulator_reports_the_planted_violation(invariant: str, replays: dict[str, Replayed]) -> None:
    planted = replays[invariant]
    assert planted.exit_code == 1, planted.output
    assert f"fails: {invariant} after step" in planted.output, planted.output


@pytest.mark.parametrize("story", list(STORIES))
def test_the_same_story_without_the_plant_passes(story: str, replays: dict[str, Replayed]) -> None:
    clean = replays[story]
    assert clean.exit_code == 0, clean.output
    assert f"passes now (it broke {story!r})" in clean.output, clean.output
