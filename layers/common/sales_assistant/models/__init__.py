"""Pydantic models at every boundary: Kommo webhooks, queue items, domain records, the n8n contract."""
