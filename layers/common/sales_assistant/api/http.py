"""Building blocks of every HTTP function: the resolver, the error shape, bearer authentication and ids.

Errors are always JSON {"error": code, "message": text} with the status of the AppError raised. A bearer
route authenticates before anything else: an unauthenticated caller gets 401 whatever the path or body.
Each route documents the statuses it can answer (`answers`); /openapi.json names the error body `Error`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ValidationError

from sales_assistant.config import get_settings
from sales_assistant.errors import AppError, Unauthorized, Unprocessable
from sales_assistant.models import MAX_KOMMO_ID
from sales_assistant.observability import count, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
MAX_SHOWN_CHARS = 40  # a field name or value quoted in an error message is cut to this
MAX_PROBLEMS_SHOWN = 3
UNAUTHORIZED = "missing or wrong bearer token"

# the webhooks' bound on Kommo ids (below 2^53: n8n's JavaScript reads them exactly); a larger one is a 422
PathId = Annotated[int, Path(gt=0, lt=MAX_KOMMO_ID, description="a Kommo id: a positive integer below 10^15")]

SUCCESSES = {200: "OK", 201: "Created", 202: "Accepted"}
ERRORS = {  # what each error status means on this API; the body's `error` code says which case it is
    400: "Malformed or empty body",
    401: "Missing or wrong bearer token",
    403: "Forbidden (a webhook of another Kommo account)",
    404: "Not found (the error code names what: unknown_lead, vendor_not_found, unknown_appointment, ...)",
    409: "Conflicts with the current state (the error code names it; a taken slot adds nearest_free)",
    413: "The body is too large",
    415: "Unsupported content type",
    422: "Invalid request: the message says where and what",
    502: "Kommo failed after its retries: try again later",
}
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. unknown_lead"},
        "message": {"type": "string", "description": "what went wrong, for a person"},
    },
}
THROTTLED: OpenAPIResponse = {  # API Gateway's answer over the stage's throttle (template.yaml), on every route
    "description": "Too many requests (API Gateway's throttle): try again later",
    "content": {
        content_types.APPLICATION_JSON: {"schema": {"type": "object", "properties": {"message": {"type": "string"}}}}
    },
}


def error_response(status: int, code: str, message: str, details: Mapping[str, Any] | None = None) -> Response:
    """The one error shape of the API (plus an error's details, e.g. a taken slot's nearest free ones)."""
    body = {**(details or {}), "error": code, "message": message}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def build_resolver(*routers: Router) -> APIGatewayHttpResolver:
    """An HTTP API resolver with request validation, the routers given and the common error handling."""
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(AppError)
    def _app_error(error: AppError) -> Response:
        logger.info("request refused", extra={"error": error.code, "status": error.status})
        return error_response(error.status, error.code, error.message, error.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        # Powertools validates the request before route middlewares run: authenticate first here.
        route = app.context.get("_route")
        if route is not None and require_api_token in route.middlewares and not _authenticated(app):
            return _app_error(Unauthorized(UNAUTHORIZED))
        return error_response(422, "invalid_request", describe_problems(error.errors()))

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
    if not _authenticated(app):
        raise Unauthorized(UNAUTHORIZED)
    return next_middleware(app)


def _authenticated(app: APIGatewayHttpResolver) -> bool:
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and tokens_match(token.strip(), get_settings().api_token.get_secret_value())


def bearer_route(tag: str, *errors: int, success: int = 200) -> dict[str, Any]:
    """Route options of an admin/n8n route: bearer auth enforced and documented, grouped under `tag`,
    answering `success` or 401 or one of the `errors` (see `answers`)."""
    return {
        "security": BEARER_SECURITY,
        "middlewares": [require_api_token],
        "tags": [tag],
        "responses": answers(success, 401, *errors),
    }


def answers(success: int, *errors: int) -> dict[int, OpenAPIResponse]:
    """The documented answers of a route: `success` (the body its return annotation says), each of the
    `errors` and 422 with the `Error` body (request validation, on every route), and API Gateway's 429."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": SUCCESSES[success]}, 429: THROTTLED}
    for status in sorted({*errors, 422}):
        documented[status] = {
            "description": ERRORS[status],
            "content": {content_types.APPLICATION_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return documented


def tokens_match(given: str, expected: str) -> bool:
    """Constant-time comparison of a secret token; an unset token matches nothing."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


Body = TypeVar("Body", bound=BaseModel)


def parsed_body(model: type[Body], body: str | None) -> Body:
    """The JSON body as `model`, or 422 `invalid_body` saying where and what (never echoing the input)."""
    try:
        return model.model_validate_json(body or "{}")
    except ValidationError as error:
        raise Unprocessable(describe_problems(error.errors(include_input=False)), code="invalid_body") from None


def describe_problems(errors: Iterable[Mapping[str, Any]]) -> str:
    """`where: what` of the first validation errors, each part cut short: a malformed field is never
    echoed back in full."""
    problems = [
        f"{'.'.join(shown(part) for part in item.get('loc', ())) or 'body'}: {shown(item.get('msg', 'invalid'), 120)}"
        for item in list(errors)[:MAX_PROBLEMS_SHOWN]
    ]
    return "; ".join(problems) or "invalid request"


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` as text, cut to `limit` characters."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def openapi_document(app: APIGatewayHttpResolver) -> str:
    """The OpenAPI document of every route registered on `app`."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    document = json.loads(
        app.get_openapi_json_schema(
            title="Kommo x n8n WhatsApp sales assistant",
            version="1.0.0",
            description="Routes of the service; admin and n8n routes take `Authorization: Bearer <API_TOKEN>`.",
            security_schemes={"bearerAuth": HTTPBearer()},
        )
    )
    schemas = document["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):  # every 422 is an Error
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    return json.dumps(document)
