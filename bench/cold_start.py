"""Benchmark: the import part of each function's cold start, on what Lambda has.

Installs the layer's requirements plus boto3 (the runtime's) into a temporary folder, byte-compiles it,
then imports each handler in a fresh isolated interpreter (`python -I -S`, no dev packages) several
times and reports the median. Run: `make bench` (or python -m bench.cold_start).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from local.defaults import EXAMPLE_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ["webhook_intake", "conversation_worker", "bot_commands", "vendor_sync", "ops_api"]
SETTINGS = {
    **EXAMPLE_SETTINGS,
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as packages:
        requirements = str(ROOT / "layers" / "common" / "requirements.txt")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-conflicts"]
        subprocess.run([*pip, "--target", packages, "-r", requirements, "boto3"], check=True)  # noqa: S603
        compile_all = [sys.executable, "-m", "compileall", "-q", packages, str(ROOT / "layers" / "common")]
        subprocess.run(compile_all, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        layer = str(ROOT / "layers" / "common")
        print(f"{'function':22} median import (ms) over {args.runs} fresh interpreters")
        for function in FUNCTIONS:
            timings = [_import_ms(function, packages, layer) for _ in range(args.runs)]
            print(f"{function:22} {statistics.median(timings):7.0f}   (min {min(timings):.0f}, max {max(timings):.0f})")


def _import_ms(function: str, packages: str, layer: str) -> float:
    code = ("import sys; sys.path[:0] = [{!r}, {!r}, {!r}]; import app").format(
        str(ROOT / "functions" / function), layer, packages
    )
    environment = {**SETTINGS, "PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(  # noqa: S603 - our own handler, in a fresh interpreter
        [sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    last = [line for line in result.stderr.splitlines() if re.search(r"\|\s+app$", line)][-1]
    return int(last.split("|")[1]) / 1000


if __name__ == "__main__":
    main()
