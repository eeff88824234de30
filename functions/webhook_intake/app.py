"""Kommo webhook intake: POST /webhooks/kommo/{token} -> validated, classified queue items."""

from aws_lambda_powertools.logging import correlation_paths

from sales_assistant.api import webhooks
from sales_assistant.api.http import build_resolver
from sales_assistant.config import get_settings
from sales_assistant.observability import observed

get_settings().require("webhook")  # a missing or malformed setting fails the cold start, naming it
app = build_resolver(webhooks.router)
lambda_handler = observed(app.resolve, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
