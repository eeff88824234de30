"""Building blocks of every HTTP function: the resolver, the error shape and bearer authentication.

Errors are always JSON {"error": code, "message": text} with the status of the AppError raised.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from sales_assistant.config import get_settings
from sales_assistant.errors import AppError, Unauthorized
from sales_assistant.observability import count, logger

BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def error_response(status: int, code: str, message: str) -> Response:
    """The one error shape of the API."""
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": code, "message": message}
    )


def build_resolver(*routers: Router) -> APIGatewayHttpResolver:
    """An HTTP API resolver with request validation, the routers given and the common error handling."""
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(AppError)
    def _app_error(error: AppError) -> Response:
        logger.info("request refused", extra={"error": error.code, "status": error.status})
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', 'invalid')}"
            for item in error.errors()
        )
        return error_response(422, "invalid_request", problems or "invalid request")

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        count("UnexpectedErrors")
        return error_response(500, "internal_error", "unexpected error; see the logs")

    return app


def require_api_token(app: APIGatewayHttpResolver, next_middleware: Callable[..., Any]) -> Any:
    """Route middleware: the request must carry `Authorization: Bearer <API_TOKEN>`."""
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    expected = get_settings().api_token.get_secret_value()
    if scheme.lower() != "bearer" or not tokens_match(token.strip(), expected):
        raise Unauthorized("missing or wrong bearer token")
    return next_middleware(app)


def bearer_route(tag: str) -> dict[str, Any]:
    """Route options of an admin/n8n route: bearer auth enforced and documented, grouped under `tag`."""
    return {"security": BEARER_SECURITY, "middlewares": [require_api_token], "tags": [tag]}


def tokens_match(given: str, expected: str) -> bool:
    """Constant-time comparison of a secret token."""
    return hmac.compare_digest(given.encode(), expected.encode())


def openapi_document(app: APIGatewayHttpResolver) -> str:
    """The OpenAPI document of every route registered on `app`."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return app.get_openapi_json_schema(
        title="Kommo x n8n WhatsApp sales assistant",
        version="1.0.0",
        description="Routes of the service; admin and n8n routes take `Authorization: Bearer <API_TOKEN>`.",
        security_schemes={"bearerAuth": HTTPBearer()},
    )
