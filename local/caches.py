"""What a process builds once and keeps: forgotten between the tests' worlds and the simulator's seeds."""

from __future__ import annotations


def reset_caches() -> None:
    """Forget everything built once per process (settings, clients, services): the next use rebuilds
    it from the current environment and mock."""
    from aws_lambda_powertools.utilities import parameters

    from sales_assistant import composition
    from sales_assistant.adapters.aws import reset_clients
    from sales_assistant.adapters.kommo.client import kommo_client
    from sales_assistant.adapters.n8n import n8n_client
    from sales_assistant.adapters.once import reset_once_cache
    from sales_assistant.config import reset_settings

    reset_settings()
    reset_clients()
    reset_once_cache()
    kommo_client.cache_clear()
    n8n_client.cache_clear()
    composition.reset()
    parameters.clear_caches()
