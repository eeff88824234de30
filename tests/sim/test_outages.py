"""Issue 20's outage runs, small: an hour-long Kommo outage, an hour-long n8n outage and an hour of both
flapping, each amid 20 conversations, on the simulation's virtual clock (`make outages` runs them amid 200:
docs/reliability.md, "The outage budget")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("kommo-down", "n8n-down", "flapping")
CONVERSATIONS = 20


@pytest.fixture(scope="module")
def outage_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """The three runs, started together (each in its own process: its moto cannot share pytest's)."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"}
    started = {
        scenario: subprocess.Popen(  # noqa: S603 - our own simulator
            [sys.executable, "-m", "sim", "--scenario", scenario, "--conversations", str(CONVERSATIONS)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for scenario in SCENARIOS
    }
    finished = {}
    for scenario, run in started.items():
        stdout, stderr = run.communicate()
        finished[scenario] = subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)
    return finished


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_an_hour_long_outage_amid_conversations_loses_nothing_and_answers_each_client_once(
    outage_runs: dict[str, subprocess.CompletedProcess[str]], scenario: str
) -> None:
    run = outage_runs[scenario]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]  # every invariant held
    facts = json.loads(run.stdout.splitlines()[-1])
    assert facts["client messages"] == CONVERSATIONS + 1  # and one more once it is over
    assert facts["dead letters"] == 0
    assert facts["busiest second"] <= 7
    assert facts["BreakerOpened"] >= 1 and facts["BreakerClosed"] >= 1  # the metric shows it opened and closed
    assert facts["assistant messages"] == CONVERSATIONS + 1  # each client answered once (fallbacks included)
