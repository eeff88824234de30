"""schemathesis against the service's own /openapi.json on the local run: every route, with the bearer
token, valid and invalid generated requests, a bounded number each; no answer may be a 5xx, every answer's
status and body must be the ones the document gives that route, and an invalid request must be refused."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from local.defaults import LOCAL_SECRETS
from tests.e2e.test_local_run import get, local_run  # noqa: F401 - the local run on free ports, as a fixture

EXAMPLES_PER_ROUTE = 40  # the whole API in about 30 s on this machine
BEARER = {"Authorization": f"Bearer {LOCAL_SECRETS['API_TOKEN']}"}
WEBHOOK = {"token": LOCAL_SECRETS["WEBHOOK_TOKEN"]}  # past the webhook's token check
AS_DOCUMENTED = [status_code_conformance, response_schema_conformance]


def test_every_route_answers_as_documented_and_never_a_5xx(local_run: dict[str, int]) -> None:  # noqa: F811 - the imported fixture
    api = schemathesis.openapi.from_url(f"http://127.0.0.1:{local_run['api']}/openapi.json")
    results = list(api.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 10  # every route's schema is usable
    for operation in operations:
        known = WEBHOOK if "{token}" in operation.path else None
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        answers_as_documented(st.one_of(*(operation.as_strategy(mode, path_parameters=known) for mode in modes)))


def answers_as_documented(cases: st.SearchStrategy[Any]) -> None:
    @given(case=cases)
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers=BEARER, timeout=30)
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
        case.validate_response(response, checks=AS_DOCUMENTED, headers=BEARER)

    check()


@pytest.mark.parametrize("path, listed", [("/bot", "paused"), ("/triggers", "deferred")])
def test_a_listing_asked_for_an_empty_or_unknown_status_is_refused_with_the_reason(
    local_run: dict[str, int],  # noqa: F811 - the imported fixture
    path: str,
    listed: str,
) -> None:
    """The local run passes `?status=` on as API Gateway does (an empty value, not a missing one)."""
    assert get(f"http://127.0.0.1:{local_run['api']}{path}?status={listed}", BEARER)["status"] == listed
    for asked in ("", "active"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(f"http://127.0.0.1:{local_run['api']}{path}?status={asked}", BEARER)
        body = json.loads(refused.value.read())
        assert (refused.value.code, body["error"]) == (422, "invalid_request"), asked
        assert "status" in body["message"] and f"'{listed}'" in body["message"], body
