"""Building blocks of every HTTP function: the resolver, the error shape, bearer authentication and ids.

Errors are always JSON {"error": code, "message": text} with the status of the AppError raised. A bearer
route declares the token scopes it takes (`bearer_route(..., scopes=...)`) and checks the token before
anything else: no token or a wrong one is a 401, a token of another scope a 403, whatever the path or body.
Two scopes: the operator token (`API_TOKEN`) and the n8n token (`N8N_API_TOKEN`, the AI agent's tools);
each also accepts its `*_PREVIOUS` value, so a token is rotated without downtime.
Each route documents the statuses it can answer (`answers`); /openapi.json names the error body `Error`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from pydantic import BaseModel, ValidationError

from sales_assistant.config import Settings, get_settings
from sales_assistant.errors import AppError, Forbidden, Unauthorized, Unprocessable
from sales_assistant.models import MAX_KOMMO_ID
from sales_assistant.observability import count, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


class Scope(StrEnum):
    """What a bearer token may do: the operator token administers; the n8n token runs the shipped workflows'
    tools (a stolen one cannot pause bots, message leads, list triggers or drain Kommo with syncs)."""

    OPERATOR = "operator"
    N8N = "n8n"


OPERATOR_ONLY = (Scope.OPERATOR,)
AGENT_TOOLS = (Scope.N8N, Scope.OPERATOR)  # scheduling: n8n's agent for its conversation's lead, ops for any
SECURITY_SCHEMES = {  # the OpenAPI security scheme of each scope
    Scope.OPERATOR: "operatorToken",
    Scope.N8N: "n8nToken",
}
MAX_SHOWN_CHARS = 40  # a field name or value quoted in an error message is cut to this
MAX_PROBLEMS_SHOWN = 3
UNAUTHORIZED = "missing or wrong bearer token"

# the webhooks' bound on Kommo ids (below 2^53: n8n's JavaScript reads them exactly); a larger one is a 422
PathId = Annotated[int, Path(gt=0, lt=MAX_KOMMO_ID, description="a Kommo id: a positive integer below 10^15")]

SUCCESSES = {200: "OK", 201: "Created", 202: "Accepted"}
ERRORS = {  # what each error status means on this API; the body's `error` code says which case it is
    400: "Malformed or empty body",
    401: "Missing or wrong bearer token",
    403: "Forbidden: a token of another scope, the n8n token for a lead not in its conversation, a webhook of "
    "another Kommo account (the message says which)",
    429: "Too many requests: API Gateway's throttle, or a run still going or too recent (Retry-After)",
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
    """The one error shape of the API (plus an error's details, e.g. a taken slot's nearest free ones); a
    `retry_after_seconds` detail is also the Retry-After header."""
    body = {**(details or {}), "error": code, "message": message}
    headers = {"Retry-After": str(body["retry_after_seconds"])} if "retry_after_seconds" in body else None
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


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
        for check in route.middlewares if route is not None else ():
            if isinstance(check, TokenCheck):
                try:
                    require_scope(app.current_event, check.scopes)
                except AppError as refused:
                    return _app_error(refused)
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


class TokenCheck:
    """Route middleware: the request's bearer token must be of one of `scopes` (401, else 403)."""

    __name__ = "token_check"  # Powertools names each middleware in its debug trace

    def __init__(self, scopes: tuple[Scope, ...]) -> None:
        self.scopes = scopes

    def __call__(self, app: APIGatewayHttpResolver, next_middleware: Callable[..., Any]) -> Any:
        require_scope(app.current_event, self.scopes)
        return next_middleware(app)


def require_scope(event: BaseProxyEvent, scopes: tuple[Scope, ...]) -> Scope:
    """The scope of the request's token if it is one of `scopes`; else 401 (no token, a wrong one) or 403."""
    scope = token_scope(event)
    if scope is None:
        raise Unauthorized(UNAUTHORIZED)
    if scope not in scopes:
        wanted = " or the ".join(scopes)
        raise Forbidden(f"this route takes the {wanted} token, not the {scope} token")
    return scope


def token_scope(event: BaseProxyEvent) -> Scope | None:
    """The scope of the request's `Authorization: Bearer` token (current or previous value), or None. Every
    value is compared, in constant time each, whichever matches."""
    scheme, _, token = (event.headers.get("authorization") or "").partition(" ")
    matches = [scope for scope, value in _token_values(get_settings()) if tokens_match(token.strip(), value)]
    return matches[0] if matches and scheme.lower() == "bearer" else None


def _token_values(settings: Settings) -> list[tuple[Scope, str]]:
    return [
        (Scope.OPERATOR, settings.api_token.get_secret_value()),
        (Scope.OPERATOR, settings.api_token_previous.get_secret_value()),
        (Scope.N8N, settings.n8n_api_token.get_secret_value()),
        (Scope.N8N, settings.n8n_api_token_previous.get_secret_value()),
    ]


def bearer_route(tag: str, *errors: int, scopes: tuple[Scope, ...], success: int = 200) -> dict[str, Any]:
    """Route options of a bearer route: the token `scopes` it takes, enforced and documented, grouped under
    `tag`, answering `success` or 401, 403 or one of the `errors` (see `answers`)."""
    return {
        "security": security_of(scopes),
        "middlewares": [TokenCheck(scopes)],
        "tags": [tag],
        "responses": answers(success, 401, 403, *errors),
    }


def security_of(scopes: tuple[Scope, ...]) -> list[dict[str, list[str]]]:
    """The OpenAPI `security` of a route taking any of `scopes`."""
    return [{SECURITY_SCHEMES[scope]: []} for scope in scopes]


def answers(success: int, *errors: int) -> dict[int, OpenAPIResponse]:
    """The documented answers of a route: `success` (the body its return annotation says), each of the
    `errors` and 422 with the `Error` body (request validation, on every route), and API Gateway's 429."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": SUCCESSES[success]}, 429: THROTTLED}
    if 429 in errors:  # the route's own 429 besides API Gateway's (the Error body has a `message` too)
        documented[429] = {**THROTTLED, "description": ERRORS[429]}
    for status in sorted({*errors, 422} - {429}):
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
            description="Routes of the service. Each bearer route names the tokens it takes (`security`): "
            "`Authorization: Bearer <token>`; a token of another scope gets 403.",
            security_schemes={
                SECURITY_SCHEMES[Scope.OPERATOR]: HTTPBearer(
                    description="The operator token, API_TOKEN (or API_TOKEN_PREVIOUS while it is rotated): "
                    "every route."
                ),
                SECURITY_SCHEMES[Scope.N8N]: HTTPBearer(
                    description="The n8n token, N8N_API_TOKEN (or N8N_API_TOKEN_PREVIOUS): the AI agent's "
                    "scheduling tools only, for the lead whose conversation n8n is answering now and that lead's "
                    "salesperson (403 otherwise)."
                ),
            },
        )
    )
    schemas = document["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):  # every 422 is an Error
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    return json.dumps(document)
