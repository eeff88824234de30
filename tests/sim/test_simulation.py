"""The quick simulation run of `make check`: 20 seeds, every invariant checked after every step (the long
runs are `make simulate` and `python -m sim --seeds 5000`, docs/simulation.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sim.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parents[2]
QUICK_SEEDS, QUICK_STEPS = 20, 20


def simulate(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m sim ...` in its own process (its moto cannot share this one's)."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"}
    command = [sys.executable, "-m", "sim", *arguments]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)  # noqa: S603


def test_twenty_seeds_of_a_sales_team_break_no_invariant(tmp_path: Path) -> None:
    run = simulate("--seeds", str(QUICK_SEEDS), "--steps", str(QUICK_STEPS), "--no-shrink")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = run.stdout.splitlines()
    assert f"{QUICK_SEEDS} seeds x {QUICK_STEPS} steps" in table
    rows = [line.split() for name in INVARIANTS for line in table if line.startswith(f"{name} ")]  # "... 420 0"
    assert len(rows) == len(INVARIANTS), table
    assert all(int(row[-2]) == QUICK_SEEDS * (QUICK_STEPS + 1) and row[-1] == "0" for row in rows), table
