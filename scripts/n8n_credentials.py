"""Writes the three n8n credentials the shipped workflows use, as JSON for `n8n import:credentials`.

    OPENAI_API_KEY=... N8N_API_TOKEN=... SUPABASE_DB_URL=postgresql://postgres:...@db.<ref>.supabase.co:5432/postgres \\
        python scripts/n8n_credentials.py --openai-url https://api.openai.com/v1 > /tmp/credentials.json
    n8n import:credentials --input=/tmp/credentials.json && rm /tmp/credentials.json

The ids are the ones the workflows in n8n/workflows/ reference, so imported workflows find their
credentials without editing (creating them by hand in n8n's UI works too: then pick them in each node).
n8n encrypts the values with its own key on import; the JSON file holds them in clear: delete it.
Secrets come from the environment (never from the command line, which other users can see). The service
API credential takes the service's n8n token (N8N_API_TOKEN), never the operator token (API_TOKEN).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CHAT_MODEL = {"id": "kommoChatModel01", "name": "Kommo assistant: chat model", "type": "openAiApi"}
DATABASE = {"id": "kommoSupabase001", "name": "Kommo assistant: Supabase", "type": "postgres"}
SERVICE_API = {"id": "kommoServiceApi1", "name": "Kommo assistant: service API", "type": "httpBearerAuth"}


def credentials(*, openai_url: str, openai_key: str, postgres_url: str, api_token: str) -> list[dict[str, Any]]:
    """The credentials as n8n exports them (data in clear: n8n encrypts it on import)."""
    return [
        {**CHAT_MODEL, "data": {"apiKey": openai_key, "url": openai_url.rstrip("/")}},
        {**DATABASE, "data": postgres_data(postgres_url)},
        {**SERVICE_API, "data": {"token": api_token}},
    ]


def postgres_data(url: str) -> dict[str, Any]:
    """n8n's Postgres credential from a connection string (Supabase's "URI": SSL required unless
    `sslmode=disable` is given)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError("the database URL must look like postgresql://user:password@host:5432/database")
    sslmode = parse_qs(parts.query).get("sslmode", ["require"])[0]
    return {
        "host": parts.hostname,
        "port": parts.port or 5432,
        "database": unquote(parts.path.lstrip("/")) or "postgres",
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "ssl": "disable" if sslmode == "disable" else "allow" if sslmode in ("allow", "prefer") else "require",
        "allowUnauthorizedCerts": False,
        "maxConnections": 10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openai-url", default="https://api.openai.com/v1", help="OpenAI-compatible base URL")
    args = parser.parse_args()
    missing = [name for name in ("OPENAI_API_KEY", "N8N_API_TOKEN", "SUPABASE_DB_URL") if not os.environ.get(name)]
    if missing:
        sys.exit(f"set {', '.join(missing)} in the environment")
    json.dump(
        credentials(
            openai_url=args.openai_url,
            openai_key=os.environ["OPENAI_API_KEY"],
            postgres_url=os.environ["SUPABASE_DB_URL"],
            api_token=os.environ["N8N_API_TOKEN"],
        ),
        sys.stdout,
        indent=2,
    )
    print()


if __name__ == "__main__":
    main()
