"""`python -m sim`: run seeds of the simulation and print, per invariant, the checks made and the
violations found (docs/simulation.md).

  python -m sim --seeds 200 --steps 300      many seeds, on every core
  python -m sim --seed 17 --steps 300        one seed
  python -m sim --replay sim-failures/seed-17.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from sim.runner import run_seed
from sim.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":  # string hashing (set order) the same in every run: replays hold
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "sim", *(sys.argv[1:] if argv is None else argv)])  # noqa: S606
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds, from --seed on (default 1)")
    parser.add_argument("--steps", type=int, default=300, help="steps per seed (default 300)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: every core)")
    parser.add_argument("--replay", type=Path, help="run a saved failing step list again")
    parser.add_argument("--plant", default="", help="plant a known fault (tests/sim: the checkers can fail)")
    parser.add_argument("--scenario", choices=SCENARIOS, help="an outage run instead of drawn steps (issue 20)")
    parser.add_argument("--conversations", type=int, default=200, help="clients writing in an outage run")
    parser.add_argument("--no-shrink", action="store_true", help="report a failure without shrinking it")
    arguments = parser.parse_args(argv)
    if arguments.replay:
        return replay(arguments.replay)
    if arguments.scenario:
        return outage_run(arguments.scenario, arguments.conversations, arguments.seed)
    seeds = list(range(arguments.seed, arguments.seed + arguments.seeds))
    jobs = [(seed, arguments.steps, arguments.plant, not arguments.no_shrink) for seed in seeds]
    checks: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    metrics: Counter[str] = Counter()
    failed = []
    began = time.perf_counter()
    with ProcessPoolExecutor(
        max(min(arguments.workers, len(jobs)), 1), _fresh_processes(), max_tasks_per_child=1
    ) as pool:
        for done in as_completed([pool.submit(run_seed, job) for job in jobs]):
            seed, outcome_checks, outcome_violations, outcome_metrics, failure, seconds = done.result()
            checks.update(outcome_checks)
            violations.update(outcome_violations)
            metrics.update(outcome_metrics)
            if failure:
                failed.append((seed, failure))
            print(f"seed {seed}: {failure or 'ok'} ({seconds:.0f} s)", flush=True)
    print(table(checks, violations, len(seeds), arguments.steps))
    print(f"{time.perf_counter() - began:.0f} s on {arguments.workers} processes")
    return 1 if failed else 0


def _fresh_processes() -> multiprocessing.context.BaseContext:
    """Each seed in a process of its own (nothing a run keeps in memory leaks into the next: a seed runs the
    same alone or in a batch, so its replay does), forked from a server that has the libraries imported."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["boto3", "moto", "pydantic", "aws_lambda_powertools", "sim.runner"])
    return context


def replay(path: Path) -> int:
    """Run a saved step list again and say whether it still fails."""
    from sim.runner import load_replay, run

    saved = load_replay(path)
    outcome = run(saved["seed"], saved["steps"], plant=saved.get("plant", ""))
    for index, step in enumerate(saved["steps"]):
        print(f"{index:3d} {step}")
    if outcome.first:
        invariant, index, what = outcome.first
        print(f"fails: {invariant} after step {index}: {what}")
        return 1
    print(f"passes now (it broke {saved['invariant']!r})")
    return 0


def outage_run(name: str, conversations: int, seed: int) -> int:
    """One outage scenario: the invariants' table, then what it ended with and the breaker's metrics."""
    from sim.runner import run
    from sim.scenarios import scenario

    outcome = run(seed, scenario(name, conversations))
    print(table(outcome.checks, outcome.violations, 1, len(outcome.steps)))
    if outcome.first:
        print(f"first violation: {outcome.first}")
    breaker = {name: outcome.metrics[name] for name in ("BreakerOpened", "BreakerClosed")}
    print(json.dumps({"scenario": name, **outcome.facts, **breaker, "seconds": round(outcome.seconds)}))
    return 1 if outcome.failed else 0


def table(checks: Counter[str], violations: Counter[str], seeds: int, steps: int) -> str:
    """The run's table: invariant, checks made, violations."""
    rows = [f"{seeds} seeds x {steps} steps", f"{'invariant':32} {'checks':>8} {'violations':>10}"]
    rows += [f"{name:32} {checks[name]:>8} {violations[name]:>10}" for name in checks]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
