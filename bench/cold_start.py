"""Benchmark: the import part of each function's cold start, on what Lambda has, against a bare
`import boto3` measured side by side.

Installs the layer's requirements plus boto3 (the runtime's) into a temporary folder, byte-compiles it,
then runs each case in fresh isolated interpreters (`python -I -S`, no dev packages), interleaved so that
the machine's noise hits every case alike: the process's wall time (interpreter start included) and its
peak memory (max RSS). Reports medians and the ratio to `import boto3`; the goal is <= 1.25x in time and
<= 1.3x in memory. A function that serves several kinds of event imports each kind's machinery on its
first event of that kind (`http_app()`, `batch_processor()` in its app.py): for those, each kind is a
case of its own (the import plus that machinery), and the goal is judged on every case. Two reference
rows, not goals, show the floor that pydantic and Powertools set before any code of the service: an
HTTP function's (pydantic with one model, Logger, Metrics, the Event Handler) and an SQS consumer's
(pydantic with one model, Logger, Metrics, Batch). Run: `make bench` (or python -m bench.cold_start --runs 9).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from local.defaults import EXAMPLE_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").exists())
BASELINE = "import boto3"
PATHS = {"http": "http_app", "sqs": "batch_processor"}  # a kind of event -> the app.py function its first one calls
_A_MODEL = (
    "from pydantic import BaseModel\nclass M(BaseModel): a: int\nfrom aws_lambda_powertools import Logger, Metrics"
)
FLOORS = {  # reference rows: what pydantic and Powertools cost before any code of the service
    "floor: HTTP function": f"{_A_MODEL}\nfrom aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
    "APIGatewayHttpResolver(enable_validation=True)",
    "floor: SQS consumer": f"{_A_MODEL}\nfrom aws_lambda_powertools.utilities.batch import BatchProcessor, EventType\n"
    "BatchProcessor(EventType.SQS)",
}
TIME_GOAL, MEMORY_GOAL = 1.25, 1.3
SETTINGS = {
    **EXAMPLE_SETTINGS,
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as template.yaml's Globals set it
}


@dataclass(frozen=True)
class ColdStart:
    """Per case (`import boto3` first, then each function), the medians of `runs` fresh interpreters:
    process wall time (ms) and peak RSS (MiB)."""

    runs: int
    cases: dict[str, tuple[float, float]]

    def ratios(self, case: str) -> tuple[float, float]:
        """The case's wall time and peak memory as multiples of `import boto3`'s."""
        (wall, mib), (base_wall, base_mib) = self.cases[case], self.cases[BASELINE]
        return wall / base_wall, mib / base_mib

    def worst(self) -> tuple[tuple[str, float], tuple[str, float]]:
        """The function case with the highest time ratio and the one with the highest memory ratio, each
        with it (the floors are references, not functions)."""
        ratios = {case: self.ratios(case) for case in self.cases if case != BASELINE and case not in FLOORS}
        slowest = max(ratios, key=lambda case: ratios[case][0])
        heaviest = max(ratios, key=lambda case: ratios[case][1])
        return (slowest, ratios[slowest][0]), (heaviest, ratios[heaviest][1])


def function_cases(function: str) -> dict[str, str]:
    """The function's cases: its import, and for each kind of event it loads on first use, the import
    plus that kind's machinery."""
    source = (ROOT / "functions" / function / "app.py").read_text()
    cases = {function: "import app"}
    for kind, loader in PATHS.items():
        if f"def {loader}(" in source:
            cases[f"{function} ({kind})"] = f"import app; app.{loader}()"
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    result = measure(args.runs)
    print(
        f"median of {result.runs} fresh interpreters per case (process wall, peak RSS), "
        f"goal <= {TIME_GOAL}x / {MEMORY_GOAL}x"
    )
    print(f"{'case':28} {'wall ms':>8} {'ratio':>6} {'MiB':>6} {'ratio':>6}")
    for case, (wall, mib) in result.cases.items():
        time_ratio, memory_ratio = result.ratios(case)
        met = time_ratio <= TIME_GOAL and memory_ratio <= MEMORY_GOAL
        verdict = "" if case == BASELINE or case in FLOORS else ("ok" if met else "OVER")
        print(f"{case:28} {wall:8.0f} {time_ratio:6.2f} {mib:6.1f} {memory_ratio:6.2f}  {verdict}")


def measure(runs: int) -> ColdStart:
    """Install the layer and boto3 into a temporary folder, then time `runs` fresh interpreters per case,
    the cases interleaved."""
    with tempfile.TemporaryDirectory() as packages:
        requirements = str(ROOT / "layers" / "common" / "requirements.txt")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-conflicts"]
        subprocess.run([*pip, "--target", packages, "-r", requirements, "boto3"], check=True)  # noqa: S603
        compile_all = [sys.executable, "-m", "compileall", "-q", packages, str(ROOT / "layers" / "common")]
        subprocess.run(compile_all, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        cases = {BASELINE: (BASELINE, packages)} | {floor: (code, packages) for floor, code in FLOORS.items()}
        for function in FUNCTIONS:
            path = os.pathsep.join([str(ROOT / "functions" / function), str(ROOT / "layers" / "common"), packages])
            cases |= {case: (code, path) for case, code in function_cases(function).items()}
        samples: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
        for _ in range(runs):
            for case, (code, path) in cases.items():
                samples[case].append(_run(code, path))
    medians = {
        case: (statistics.median(wall for wall, _ in values), statistics.median(mib for _, mib in values))
        for case, values in samples.items()
    }
    return ColdStart(runs, medians)


def _run(code: str, path: str) -> tuple[float, float]:
    """Wall time (ms) and peak RSS (MiB) of one fresh interpreter running `code` with `path` first."""
    program = f"import sys; sys.path[:0] = {path.split(os.pathsep)!r}; {code}"
    environment = {**SETTINGS, "PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c", program], env=environment)  # noqa: S603
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{code} failed with {path}")
    return elapsed, usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
