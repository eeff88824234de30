"""Operations API: GET /health, GET /reports/funnel and GET /openapi.json (the document of every route)."""

from functools import cache

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths

from sales_assistant.api import ops, reports
from sales_assistant.api.http import build_resolver, openapi_document
from sales_assistant.config import get_settings
from sales_assistant.observability import observed

get_settings().require("api")  # the details of /health take the operator token (the n8n token: 403)
app = build_resolver(ops.router, reports.router)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    """The OpenAPI document of the whole HTTP API."""
    return Response(200, content_types.APPLICATION_JSON, whole_api_document())


@cache
def whole_api_document() -> str:
    """Every router of the service, imported only for this document (a /health cold start skips them)."""
    from sales_assistant.api import bot, contacts, follow_ups, messages, salespeople, scheduling, triggers, webhooks

    routers = (
        ops.router,
        reports.router,
        webhooks.router,
        salespeople.router,
        bot.router,
        triggers.router,
        messages.router,
        contacts.router,
        follow_ups.router,
    )
    return openapi_document(build_resolver(*routers, scheduling.router))


lambda_handler = observed(app.resolve, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
