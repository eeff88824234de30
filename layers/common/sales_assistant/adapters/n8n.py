"""The n8n client: signed JSON requests, timeouts, bounded retries, validated responses."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import requests
from pydantic import ValidationError

from sales_assistant.adapters.aws import created_once
from sales_assistant.adapters.kommo.client import pooled_session
from sales_assistant.config import Settings
from sales_assistant.models.n8n import N8nRequest, N8nResponse
from sales_assistant.observability import MetricUnit, logger, measure
from sales_assistant.observability import correlation_id as current_correlation_id
from sales_assistant.services.ports import AiFailure

MAX_ATTEMPTS = 2
CONNECT_TIMEOUT = 3.05
HEALTH_PING = b'{"version":"1","kind":"health"}'  # n8n/examples/request-health.json, compact


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """X-Signature of a request body: sha256=HMAC(secret, timestamp + "." + body). In contract v1 n8n's
    responses are not signed: they are validated against the response schema instead."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class N8nClient:
    """Calls one n8n instance; `ask` returns a validated response or raises AiFailure."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        read_timeout: float,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = (CONNECT_TIMEOUT, read_timeout)
        self._session = session or pooled_session()
        self._sleep = sleep

    def ask(self, path: str, request: N8nRequest) -> N8nResponse:
        """POST the request to {base}{path} and validate the answer (raises AiFailure)."""
        return _validated(self._post(path, request.model_dump_json().encode()))

    def deliver(self, path: str, request: N8nRequest) -> None:
        """POST the request to {base}{path}; any 2xx is success, whatever the body (raises AiFailure)."""
        self._post(path, request.model_dump_json().encode())

    def ping(self, path: str) -> None:
        """The health workflow's signed ping: 200 {"ok": true}, or AiFailure with the reason."""
        response = self._post(path, HEALTH_PING)
        try:
            answered_ok = response.json().get("ok") is True
        except (ValueError, AttributeError):
            answered_ok = False
        if not answered_ok:
            raise AiFailure("invalid_response")

    def _post(self, path: str, body: bytes) -> requests.Response:
        """One signed POST, with the running correlation id (X-Correlation-Id); retries once on 5xx or an
        unreachable n8n (not on a slow one); a 2xx answer, or AiFailure."""
        reason = "unreachable"
        for attempt in range(MAX_ATTEMPTS):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Timestamp": timestamp,
                "X-Signature": sign(self._secret, timestamp, body),
            }
            correlation_id = current_correlation_id()
            if correlation_id:
                headers["X-Correlation-Id"] = str(correlation_id)
            started = time.perf_counter()
            try:
                response = self._session.post(
                    f"{self._base_url}{path}", data=body, headers=headers, timeout=self._timeout
                )
            except requests.Timeout:
                logger.warning("n8n call timed out", extra={"n8n_path": path})
                raise AiFailure("timeout") from None
            except requests.RequestException:
                reason = "unreachable"
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                measure("N8nLatency", elapsed_ms, MetricUnit.Milliseconds)
                logger.info(
                    "n8n call",
                    extra={"n8n_path": path, "status": response.status_code, "n8n_ms": round(elapsed_ms)},
                )
                if response.status_code < 300:
                    return response
                reason = f"http_{response.status_code}"
                if response.status_code < 500:
                    break
            if attempt + 1 < MAX_ATTEMPTS:
                self._sleep(0.5)
        raise AiFailure(reason)


def _validated(response: requests.Response) -> N8nResponse:
    try:
        payload = response.json()
    except ValueError:
        raise AiFailure("invalid_json") from None
    try:
        return N8nResponse.model_validate(payload)
    except ValidationError as error:
        logger.warning("n8n response refused", extra={"problems": error.error_count()})
        raise AiFailure("invalid_response") from None


@created_once
def n8n_client(settings: Settings) -> N8nClient:
    """The process-wide n8n client for these settings (N8N_SIGNING_SECRET required)."""
    secret = settings.require("n8n").n8n_signing_secret.get_secret_value()
    return N8nClient(settings.n8n_base_url, secret, settings.n8n_timeout_seconds)
