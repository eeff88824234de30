"""The business lives in the playbook (n8n/supabase's playbook tables), not in the workflows' code: the agent's
instructions are built from the playbook of the lead's area, and the answer names the playbook entries it used.
The real tables and workflows run in tests/n8n/test_real_n8n_playbook.py (`make test-n8n`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from local.contracts import CONTRACTS
from sales_assistant.models.n8n import N8nResponse
from tests.unit.test_n8n_contract import needs_node, run_code_node

ROOT = Path(__file__).resolve().parents[2]
BUSINESS_WORDS = re.compile(r"cons[oó]rcio|carta de cr[eé]dito|contempla", re.IGNORECASE)
PLAYBOOK = {  # what Read playbook (playbook_for_area) gives for a lead of the area Auto
    "company": {
        "id": "empresa",
        "name": "Horizonte Consórcios",
        "sells": "consórcios de carros e motos",
        "address_clients": "pelo primeiro nome",
        "tone": "cordial e direto",
        "words_to_avoid": ["garantido", "sem risco"],
    },
    "qualification": [
        {"id": "qualif-interesse-auto", "question": "É para carro, moto ou caminhão?", "field_name": "interesse"},
        {"id": "qualif-renda", "question": "Qual a sua renda?", "field_name": "renda"},  # a field not offered
    ],
    "handover_topics": [{"id": "handover-juridico", "topic": "Assuntos jurídicos", "keywords": ["advogado", "Procon"]}],
}


def reply_request() -> dict[str, object]:
    return dict(json.loads((CONTRACTS / "examples" / "request-reply.json").read_text()))


def run_playbook_instructions(request: Mapping[str, object], playbook: Mapping[str, object]) -> dict[str, object]:
    """n8n/src/playbook-instructions.js after Read playbook, the signed request before it (run in Node.js)."""
    code = (ROOT / "n8n" / "src" / "playbook-instructions.js").read_text()
    script = (
        f"const $input = {{ first: () => ({{ json: {json.dumps({'playbook': playbook})} }}) }};\n"
        f"const $ = () => ({{ first: () => ({{ json: {json.dumps({'request': request})} }}) }});\n"
        f"const items = (function () {{\n{code}\n}})();\n"
        "process.stdout.write(JSON.stringify(items[0].json));\n"
    )
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603, S607
    return dict(json.loads(done.stdout))


def test_the_workflows_code_names_no_business() -> None:
    """`grep -ri consórcio n8n/src` finds nothing: who the assistant sells for, and what, is the playbook's."""
    found = [
        f"{path.name}: {match.group(0)}"
        for path in sorted((ROOT / "n8n" / "src").glob("*.js"))
        for match in BUSINESS_WORDS.finditer(unicodedata.normalize("NFC", path.read_text()))
    ]
    assert found == []


def test_the_shipped_workflows_are_built_from_their_sources() -> None:
    completed = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "n8n_workflows.py"), "--check"], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr


@needs_node
def test_the_reply_agent_speaks_for_the_company_of_the_leads_area_and_hands_over_its_topics() -> None:
    request = reply_request()
    prepared = run_code_node("prepare-reply.js", run_playbook_instructions(request, PLAYBOOK))

    system = str(prepared["system"])
    assert system.startswith("Você é o assistente virtual de vendas de Horizonte Consórcios no WhatsApp.")
    assert "A empresa vende consórcios de carros e motos." in system
    assert "Nunca use estas palavras ou expressões: garantido; sem risco." in system
    assert "só quando uma entrada devolvida por search_playbook o disser" in system
    assert "[fontes: id1, id2]" in system
    assert "- Assuntos jurídicos (por exemplo: advogado, Procon)" in system
    assert "- É para carro, moto ou caminhão? (campo interesse)" in system  # a field the service offers
    assert "- Qual a sua renda?\n" in system  # asked, but no field to write it in
    assert prepared["area"] == "Auto"


@needs_node
def test_without_a_playbook_the_agent_still_never_states_a_price_of_its_own() -> None:
    prepared = run_code_node("prepare-reply.js", run_playbook_instructions(reply_request(), {}))

    system = str(prepared["system"])
    assert system.startswith("Você é o assistente virtual de vendas no WhatsApp.")
    assert "se nenhuma disser, diga que o consultor confirma" in system
    assert "hand_over também" not in system and "Para qualificar o lead" not in system


@needs_node
def test_a_first_message_asks_the_playbooks_first_qualification_question() -> None:
    request = json.loads((CONTRACTS / "examples" / "request-proactive.json").read_text())
    prepared = run_code_node("prepare-proactive.js", run_playbook_instructions(request, PLAYBOOK))

    system = str(prepared["system"])
    assert "de Horizonte Consórcios" in system
    assert "(de preferência: É para carro, moto ou caminhão?)" in system
    assert prepared["area"] == "Imóveis"


def search(entries: list[str]) -> dict[str, object]:
    """An agent step: search_playbook called, answering these entry ids (as n8n hands a Postgres tool's rows)."""
    rows = [{"entries": [{"id": entry, "kind": "faq", "title": "t", "body": "b"} for entry in entries]}]
    return {"action": {"tool": "search_playbook", "toolInput": {"query": "prazo"}}, "observation": json.dumps(rows)}


@needs_node
def test_the_answer_names_the_playbook_entries_the_agent_cited_that_a_search_returned() -> None:
    output = {
        "output": "Sai em até 10 dias úteis depois da contemplação. [fontes: faq-prazo-entrega, faq-inventada]",
        "intermediateSteps": [search(["faq-prazo-entrega", "faq-lance"]), search(["oferta-auto-carro-50mil"])],
    }

    answer = run_code_node("answer-reply.js", output)

    assert answer == {
        "reply": "Sai em até 10 dias úteis depois da contemplação.",  # the mark is not sent to the client
        "actions": [],
        "playbook_ids": ["faq-prazo-entrega"],  # faq-inventada: no search returned it
    }
    assert N8nResponse.model_validate(answer).playbook_ids == ["faq-prazo-entrega"]


@needs_node
def test_an_answer_that_cites_nothing_carries_no_playbook_ids() -> None:
    output = {"output": "Olá! Como posso ajudar?", "intermediateSteps": [search(["faq-lance"])]}
    assert run_code_node("answer-reply.js", output) == {"reply": "Olá! Como posso ajudar?", "actions": []}


def test_playbook_ids_past_the_contracts_bounds_are_dropped_not_the_answer() -> None:
    for ids in (["faq-x"] * 11, ["x" * 65], [""]):
        answer = N8nResponse.model_validate({"reply": "O consultor confirma.", "playbook_ids": ids})
        assert (answer.reply, answer.playbook_ids) == ("O consultor confirma.", None)
