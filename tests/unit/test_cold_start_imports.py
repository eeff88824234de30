"""What a cold start imports: never the X-Ray SDK unless detailed tracing is asked for (about 150 ms of
every cold start), no HTTP client where a function's import does not need one, only the machinery of
the kind of event that came first (routes or Batch), and no model built that the event does not use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.defaults import EXAMPLE_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").exists())
HEAVY = ("aws_xray_sdk", "requests")
ROUTES, BATCH = "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.batch"
MULTI_PURPOSE = ["bot_commands", "proactive_trigger", "scheduling"]  # queue, routes (and a schedule)


def after_cold_start(function: str, then: str, report: str, **environment: str) -> Any:
    """The value of the expression `report` in a fresh interpreter that imported the function with only
    its settings and then ran `then` (e.g. what its first event of one kind loads)."""
    program = (
        f"import sys; sys.path[:0] = [{str(ROOT / 'functions' / function)!r}, {str(ROOT / 'layers' / 'common')!r}]; "
        f"import app, json; {then or 'pass'}; print(json.dumps({report}))"
    )
    settings = {**EXAMPLE_SETTINGS, "AWS_DEFAULT_REGION": "us-east-1", **environment}
    result = subprocess.run(  # noqa: S603 - our own handler in a fresh interpreter, only its settings
        [sys.executable, "-c", program], env={"PATH": os.environ["PATH"], **settings}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def imported_after_cold_start(
    function: str, then: str = "", watched: tuple[str, ...] = HEAVY, **environment: str
) -> set[str]:
    """Which of the `watched` modules the fresh interpreter holds after importing the function (and `then`)."""
    held = f"[name for name in {watched!r} if name in sys.modules]"
    return set(after_cold_start(function, then, held, **environment))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_cold_start_does_not_load_the_xray_sdk(function: str) -> None:
    assert "aws_xray_sdk" not in imported_after_cold_start(function)


def test_detailed_tracing_loads_the_xray_sdk_when_a_handler_is_wrapped() -> None:
    assert "aws_xray_sdk" in imported_after_cold_start("webhook_intake", DETAILED_TRACING="true")


@pytest.mark.parametrize("function", ["webhook_intake", "vendor_sync", "ops_api"])
def test_functions_that_do_not_call_kommo_at_import_leave_the_http_client_for_later(function: str) -> None:
    assert "requests" not in imported_after_cold_start(function)


@pytest.mark.parametrize("function", MULTI_PURPOSE)
def test_a_cold_start_fed_by_the_queue_never_loads_the_routes(function: str) -> None:
    assert imported_after_cold_start(function, "app.batch_processor()", (ROUTES, BATCH)) == {BATCH}


@pytest.mark.parametrize("function", MULTI_PURPOSE)
def test_a_cold_start_for_a_route_never_loads_powertools_batch(function: str) -> None:
    assert imported_after_cold_start(function, "app.http_app()", (ROUTES, BATCH)) == {ROUTES}


def test_a_webhook_cold_start_builds_no_model_of_the_other_flows() -> None:
    built = "sales_assistant.models.n8n.N8nRequest.__pydantic_complete__"
    assert after_cold_start("webhook_intake", "import sales_assistant.models.n8n", built) is False
