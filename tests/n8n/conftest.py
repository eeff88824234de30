"""Opt-in tests of the shipped n8n workflows in a real n8n 1.123 (`make test-n8n`).

They install n8n from npm once (about 2.5 minutes and 1.8 GB, cached in ~/.cache/kommo-n8n), start a
throwaway PostgreSQL, n8n and the service's local run, so they are left out of the default `pytest`
run: they run only with RUN_N8N_TESTS=1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.n8n_harness import RealN8n, postgres_binaries, serving

ENABLED = os.environ.get("RUN_N8N_TESTS") == "1"
TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="real n8n: opt-in, run `make test-n8n` (RUN_N8N_TESTS=1)")
    for item in items:
        if "tests/n8n/" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def n8n_timings() -> dict[str, float]:
    """Where the tests note how long setup and each scenario took (printed at the end)."""
    return TIMINGS


@contextlib.contextmanager
def real_n8n(prefix: str, secret: str, service_url: str, api_token: str, paths: tuple[str, ...]) -> Iterator[RealN8n]:
    """PostgreSQL, the fake chat model and n8n with the shipped workflows, serving `paths`, in a folder of their
    own, stopped afterwards; the test skips where Node.js or PostgreSQL is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js 20 and npm are needed to install n8n")
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    with tempfile.TemporaryDirectory(prefix=prefix) as base:
        real = RealN8n(secret, service_url, api_token, Path(base))
        try:
            real.start()
            assert real.n8n is not None
            serving(real.n8n.url, paths)
            yield real
        finally:
            real.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "real n8n: setup and scenario times (s)")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:40} {seconds:6.1f}")
