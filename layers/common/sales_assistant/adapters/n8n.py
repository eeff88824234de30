"""The n8n client: signed JSON requests, timeouts, bounded retries, signed and validated answers.

Contract v2's signature (docs/contracts/README.md): each request carries X-Timestamp, a fresh
X-Request-Id and X-Signature-V2, an HMAC of the method, the URL path, the timestamp, the request id
and the body, so a captured request is good for that workflow only, once (n8n remembers the ids it
saw for the 5-minute window). n8n signs its answer (X-Signature-V2: an HMAC of the request id and the
answer's body); an unsigned or badly signed 2xx answer is refused like an invalid one. While n8n's
workflows are being upgraded from v1 (N8N_UPGRADE_FROM_V1), requests also carry v1's X-Signature and
unsigned answers are accepted (each one logged).
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from pydantic import ValidationError

from sales_assistant import timing
from sales_assistant.adapters.aws import created_once
from sales_assistant.adapters.breaker import Breaker
from sales_assistant.adapters.kommo.client import pooled_session
from sales_assistant.adapters.n8n_signature import SIGNATURE_HEADER, sign_answer, signed_headers
from sales_assistant.config import Settings
from sales_assistant.errors import DependencyDown
from sales_assistant.models.consent import EraseRequest
from sales_assistant.models.n8n import N8nRequest, N8nResponse, SalespeopleRequest
from sales_assistant.observability import MetricUnit, logger, measure
from sales_assistant.observability import correlation_id as current_correlation_id
from sales_assistant.services.ports.n8n import AiFailure

MAX_ATTEMPTS = 2
CONNECT_TIMEOUT = 3.05
HEALTH_PING = b'{"version":"2","kind":"health"}'  # n8n/examples/request-health.json, compact


class N8nClient:
    """Calls one n8n instance; `ask` returns a validated response or raises AiFailure."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        read_timeout: float,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = timing.sleep,
        upgrade_from_v1: bool = False,
        breaker: Breaker | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._upgrade_from_v1 = upgrade_from_v1
        self._timeout = (CONNECT_TIMEOUT, read_timeout)
        self._session = session or pooled_session()
        self._sleep = sleep
        self._breaker = breaker

    def ask(self, path: str, request: N8nRequest) -> N8nResponse:
        """POST the request to {base}{path} and validate the answer (raises AiFailure)."""
        return _validated(self._post(path, request.model_dump_json().encode()))

    def deliver(self, path: str, request: N8nRequest | SalespeopleRequest | EraseRequest) -> None:
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
        """One signed POST, with the running correlation id (X-Correlation-Id); retries once (a new request
        id) on 5xx or an unreachable n8n (not on a slow one); a signed 2xx answer, or AiFailure."""
        url = f"{self._base_url}{path}"
        reason = "unreachable"
        self._check_breaker()
        for attempt in range(MAX_ATTEMPTS):
            request_id = uuid.uuid4().hex
            headers = {
                "Content-Type": "application/json",
                **signed_headers(
                    self._secret,
                    urlsplit(url).path,
                    body,
                    timestamp=str(int(time.time())),
                    request_id=request_id,
                    with_v1=self._upgrade_from_v1,
                ),
            }
            correlation_id = current_correlation_id()
            if correlation_id:
                headers["X-Correlation-Id"] = str(correlation_id)
            started = time.perf_counter()
            try:
                response = self._session.post(url, data=body, headers=headers, timeout=self._timeout)
            except requests.Timeout:
                logger.warning("n8n call timed out", extra={"n8n_path": path})
                self._answered(False)
                raise AiFailure("timeout") from None
            except requests.RequestException:
                reason = "unreachable"
                self._answered(False)
            else:
                self._answered(response.status_code < 500)
                elapsed_ms = (time.perf_counter() - started) * 1000
                measure("N8nLatency", elapsed_ms, MetricUnit.Milliseconds)
                logger.info(
                    "n8n call",
                    extra={"n8n_path": path, "status": response.status_code, "n8n_ms": round(elapsed_ms)},
                )
                if response.status_code < 300:
                    self._check_signed(path, request_id, response)
                    return response
                reason = f"http_{response.status_code}"
                if response.status_code < 500:
                    break
            if attempt + 1 < MAX_ATTEMPTS:
                self._sleep(0.5)
        raise AiFailure(reason)

    def _check_breaker(self) -> None:
        """n8n's breaker open (it timed out or failed 5 times in a row): AiFailure("n8n_down") at once, so the
        client gets the fallback text without waiting out another time-out."""
        if self._breaker is None:
            return
        try:
            self._breaker.check()
        except DependencyDown:
            raise AiFailure("n8n_down") from None

    def _answered(self, up: bool) -> None:
        """Tell the breaker whether n8n answered (any status below 500) or is down."""
        if self._breaker is not None:
            self._breaker.succeeded() if up else self._breaker.failed()

    def _check_signed(self, path: str, request_id: str, response: requests.Response) -> None:
        """n8n's answer to `request_id` is signed with the shared secret, or AiFailure("invalid_signature")
        (an unsigned answer passes while N8N_UPGRADE_FROM_V1 is on)."""
        given = response.headers.get(SIGNATURE_HEADER, "")
        if not given and self._upgrade_from_v1:
            logger.warning("n8n answered unsigned: accepted while N8N_UPGRADE_FROM_V1 is on", extra={"n8n_path": path})
            return
        if not hmac.compare_digest(given, sign_answer(self._secret, request_id, response.content)):
            problem = "a wrong signature" if given else "no signature"
            logger.warning(f"n8n answer refused: {problem}", extra={"n8n_path": path})
            raise AiFailure("invalid_signature")


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
    return N8nClient(
        settings.n8n_base_url,
        secret,
        settings.n8n_timeout_seconds,
        upgrade_from_v1=settings.n8n_upgrade_from_v1,
        breaker=Breaker(settings.kommo_table, "n8n"),
    )
