"""Run a side effect once per key, with Powertools Idempotency on the idempotency table.

A second call with the same key returns the first call's result without running the effect again;
a call that fails leaves no record, so a retry runs it. A call made while the first one is still
running returns {"in_progress": True}: the first one owns the effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sales_assistant.adapters.aws import created_once, dynamodb_client
from sales_assistant.invocation import invocation_context


@created_once
def _persistence(table_name: str, ttl_seconds: int) -> Any:
    """The store, configured before any thread uses it (Powertools marks a store configured before it has
    read its configuration: a second thread at a cold start could hash the wrong key)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client())
    store.configure(_config(ttl_seconds))
    return store


def _config(ttl_seconds: int) -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="key", expires_after_seconds=ttl_seconds, raise_on_no_idempotency_key=True
    )


def run_once(
    scope: str,
    key: str,
    effect: Callable[[], dict[str, Any]],
    *,
    table_name: str,
    ttl_seconds: int,
    raise_in_progress: bool = False,
) -> dict[str, Any]:
    """Run `effect` unless `scope:key` already ran within `ttl_seconds`; returns the effect's result.

    With `raise_in_progress`, a call made while another is running raises (the caller retries later)
    instead of returning {"in_progress": True}.
    """
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    config = _config(ttl_seconds)
    lambda_context = invocation_context()
    if lambda_context is not None:  # a record left "in progress" by a timed-out invocation expires with it
        config.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(table_name, ttl_seconds), config=config
    )
    def once(request: dict[str, str]) -> dict[str, Any]:
        return effect()

    try:
        return once(request={"key": f"{scope}:{key}"})
    except IdempotencyAlreadyInProgressError:
        if raise_in_progress:
            raise
        return {"in_progress": True}


def reset_once_cache() -> None:
    """Forget the cached persistence layer (tests)."""
    _persistence.cache_clear()
