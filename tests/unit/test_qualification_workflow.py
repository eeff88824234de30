"""The shipped reply workflow tells its agent the lead fields it may fill (the request's `qualification`), in the
system message: the team's fields and their allowed values are instructions, never the client's words."""

from __future__ import annotations

import json

from local.contracts import CONTRACTS
from tests.unit.test_n8n_contract import needs_node, run_code_node


@needs_node
def test_the_reply_agent_is_told_each_field_and_its_allowed_values() -> None:
    request = json.loads((CONTRACTS / "examples" / "request-reply.json").read_text())

    prepared = run_code_node("prepare-reply.js", {"request": request})

    system = str(prepared["system"])
    assert "set_fields" in system
    assert "- orcamento: um número (ex.: 1500 ou 1500.5, sem separador de milhar)" in system
    assert "- interesse: uma destas opções: Carro | Moto | Caminhão" in system
    assert "- cidade: um texto de até 256 caracteres" in system
    assert "orcamento" not in str(prepared["prompt"])


@needs_node
def test_without_qualification_fields_the_agent_is_told_of_none() -> None:
    request = json.loads((CONTRACTS / "examples" / "request-reply.json").read_text())
    del request["qualification"]  # a request of a service that names no field (or older than the field)

    prepared = run_code_node("prepare-reply.js", {"request": request})

    assert "set_fields" not in str(prepared["system"]) and prepared["qualification"] == []
