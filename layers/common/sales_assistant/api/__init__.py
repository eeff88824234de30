"""HTTP routes (Powertools Event Handler routers), shared so that one OpenAPI document covers them all."""
