"""Salesperson sync: the EventBridge schedule, POST /vendors/sync, GET /vendors and GET /vendors/{id}."""

from typing import Any

from sales_assistant.api import vendors
from sales_assistant.api.http import build_resolver
from sales_assistant.config import get_settings
from sales_assistant.observability import observed

get_settings()
app = build_resolver(vendors.router)


def route(event: dict[str, Any], context: Any) -> Any:
    """HTTP events go to the routes; the schedule's event runs the sync."""
    if "requestContext" in event:
        return app.resolve(event, context)
    return vendors.run_vendor_sync()


lambda_handler = observed(route)
