"""Writes the n8n contract's JSON Schema files (docs/contracts/) from the pydantic models.

`python -m local.contracts` regenerates them; a test checks they are up to date and that the
examples validate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sales_assistant.models.consent import EraseRequest
from sales_assistant.models.n8n import (
    CONTRACT_VERSION,
    FollowUpRequest,
    N8nRequest,
    N8nResponse,
    SalespeopleRequest,
    SchedulingRequest,
)

CONTRACTS = Path(__file__).resolve().parent.parent / "docs" / "contracts"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of each side of the contract (and of the scheduling, salespeople and erase
    requests, the bodies of kinds `scheduling`, `salespeople` and `erase`; n8n answers them with any 2xx once
    done)."""
    rendered = {}
    sides: tuple[tuple[str, type[N8nRequest | N8nResponse | SalespeopleRequest | EraseRequest]], ...] = (
        ("request", N8nRequest),
        ("response", N8nResponse),
        ("scheduling", SchedulingRequest),
        ("follow-up", FollowUpRequest),
        ("salespeople", SalespeopleRequest),
        ("erase", EraseRequest),
    )
    for side, model in sides:
        schema = model.model_json_schema(mode="validation" if side == "response" else "serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://github.com/kommo-sales-assistant/contracts/n8n-{side}.v{CONTRACT_VERSION}.schema.json"
        rendered[f"n8n-{side}.v{CONTRACT_VERSION}.schema.json"] = schema
    return rendered


def main() -> None:
    for name, schema in schemas().items():
        (CONTRACTS / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        print(f"docs/contracts/{name}")


if __name__ == "__main__":
    main()
