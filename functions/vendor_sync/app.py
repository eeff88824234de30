"""Salesperson sync: the EventBridge schedule, POST /vendors/sync (both send n8n the salesperson list when it
changed), GET /vendors, GET /vendors/{id} and GET/PUT /vendors/{id}/profile."""

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from sales_assistant.adapters.sync_lock import SyncBusy
from sales_assistant.api import salespeople
from sales_assistant.api.http import build_resolver
from sales_assistant.config import get_settings
from sales_assistant.event_sources import EventSources
from sales_assistant.observability import logger, observed

get_settings().require("api", "kommo", "n8n")  # fails the cold start, naming what is missing


@cache
def http_app() -> APIGatewayHttpResolver:
    """The /vendors routes."""
    return build_resolver(salespeople.router)


def scheduled_sync() -> dict[str, Any]:
    """The schedule's job (every 15 minutes): refresh the Kommo token ahead of its expiry, then run the
    sync (skipped while another run goes on)."""
    from sales_assistant.adapters.kommo import kommo_client  # requests and the Kommo models: this path only

    token_refreshed = kommo_client(get_settings()).refresh_token_ahead()
    try:
        return {**salespeople.run_salesperson_sync(on_demand=False), "token_refreshed": token_refreshed}
    except SyncBusy as busy:  # an on-demand run is going: it does this run's work
        logger.info("scheduled vendor sync skipped", extra={"reason": busy.code})
        return {"skipped": busy.code, "token_refreshed": token_refreshed}


route = EventSources(http=http_app, schedule=scheduled_sync)
lambda_handler = observed(route)
