"""Shared package of the Kommo x n8n WhatsApp sales assistant (the common Lambda layer)."""
