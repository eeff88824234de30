"""One logger and metrics object for every function, tracing on demand, plus masking of personal data.

Service name, log level and namespace come from the Powertools environment variables set in
template.yaml Globals. Lambda's active tracing records every invocation; with DETAILED_TRACING=true
Powertools Tracer also records each AWS, Kommo and n8n call (its X-Ray SDK is imported only then: it
costs about 150 ms of every cold start). Nothing personal (phones, e-mails, names, message text) is logged as is:
log `mask_phone(...)`, `mask_text(...)` or `mask_email(...)` instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

__all__ = [
    "MetricUnit",
    "adopt_correlation_id",
    "correlation_id",
    "count",
    "fingerprint",
    "follow",
    "logger",
    "mask_email",
    "mask_phone",
    "mask_text",
    "measure",
    "metrics",
    "observed",
]

_DIGITS = re.compile(r"\D")
_adding = threading.Lock()  # Powertools Metrics is shared by a batch's record threads


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit a count metric. With dimensions (low-cardinality only) it goes out twice: its total (the
    `service` dimension alone, for alarms, which cannot SEARCH) and, in its own EMF blob, per dimension.
    Safe from a batch's record threads (one metric added at a time)."""
    with _adding:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if not dimensions:
        return
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def measure(name: str, value: float, unit: MetricUnit = MetricUnit.Seconds) -> None:
    """Emit a measurement (a duration by default)."""
    with _adding:
        metrics.add_metric(name=name, unit=unit, value=value)


def mask_phone(phone: str | None) -> str:
    """'+55 11 98765-4321' -> '*********4321'."""
    digits = _DIGITS.sub("", phone or "")
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_email(email: str | None) -> str:
    """'ana.souza@empresa.com.br' -> 'a***@empresa.com.br'."""
    local, _, domain = (email or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_text(text: str | None) -> str:
    """Message text -> its length and a short fingerprint, enough to correlate, nothing to read."""
    return f"<{len(text or '')} chars #{fingerprint(text or '')}>"


def fingerprint(text: str) -> str:
    """A short stable hash of a text (not reversible in practice), for logs and dedup keys."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


CORRELATION_ATTRIBUTE = "correlation_id"


def adopt_correlation_id(message_attributes: dict[str, Any] | None) -> str | None:
    """Take the correlation id an SQS message carries (message attribute `correlation_id`, set by the
    publisher) as this record's: every log line from here on, and the calls to n8n, carry it."""
    attribute = (message_attributes or {}).get(CORRELATION_ATTRIBUTE) or {}
    value = attribute.get("stringValue") or attribute.get("StringValue")
    follow(correlation_id=value)
    return value


def follow(**keys: Any) -> None:
    """Keys on every log line of the record being handled (the conversation, the correlation id): kept in
    the record's own context, so the records of a batch handled at once never mix them up."""
    logger.thread_safe_append_keys(**keys)


def correlation_id() -> str | None:
    """The correlation id of the record or request being handled, if any."""
    value = logger.thread_safe_get_current_keys().get("correlation_id") or logger.get_correlation_id()
    return str(value) if value else None


def observed(
    handler: Callable[[dict, Any], Any], *, correlation_id_path: str | None = None
) -> Callable[[dict, Any], Any]:
    """Wrap a Lambda entry point with the logger (context, correlation id), tracing and metrics flush."""

    def with_context(event: dict, context: Any) -> Any:
        from sales_assistant.invocation import set_invocation_context

        set_invocation_context(context)
        logger.thread_safe_clear_keys()  # no conversation or correlation id left by the last event
        try:
            return handler(event, context)
        finally:
            set_invocation_context(None)  # a warm container's next event never sees this one's deadline
            logger.thread_safe_clear_keys()

    flushed = metrics.log_metrics(_traced(with_context))
    return logger.inject_lambda_context(flushed, correlation_id_path=correlation_id_path, clear_state=True)


def _traced(handler: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
    """`handler` under Powertools Tracer when DETAILED_TRACING is "true", else as it is."""
    if os.environ.get("DETAILED_TRACING", "false").lower() != "true":
        return handler
    from aws_lambda_powertools import Tracer

    return Tracer().capture_lambda_handler(handler)
