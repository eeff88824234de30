"""The follow-up and erase workflows, and the token usage every AI answer carries, in a real n8n 1.123.81.

Setup (once for the module): PostgreSQL loaded with n8n/supabase/schema.sql, the fake chat model and n8n with
the shipped workflows (scripts/n8n_harness.py), requests signed as the service signs them. No service runs: the
scenarios here never reach its API (the agent's hand_over tool is n8n's own).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sales_assistant.models.consent import EraseRequest
from sales_assistant.models.n8n import FollowUpRequest, N8nResponse
from scripts.n8n_fake_model import FakeChatModel, Step
from scripts.n8n_harness import Postgres, RealN8n, free_port
from tests.n8n.conftest import real_n8n
from tests.n8n.test_real_n8n import N8N_API_TOKEN, SECRET, example, signed_post, usage_reported

MARIANA, MARIANA_LEAD = 93589657, 27754599  # docs/contracts/examples/request-reply.json
JULIANA_LEAD = 27754601  # docs/contracts/examples/request-follow-up.json, another contact
PATHS = ("kommo-follow-up", "kommo-erase", "kommo-reply", "kommo-proactive")


@pytest.fixture(scope="module")
def n8n(n8n_timings: dict[str, float]) -> Iterator[RealN8n]:
    started = time.perf_counter()
    with real_n8n("kommo-n8n-follow-up-", SECRET, f"http://127.0.0.1:{free_port()}", N8N_API_TOKEN, PATHS) as real:
        n8n_timings["setup (follow-up, erase): total"] = time.perf_counter() - started
        yield real


@pytest.fixture
def model(n8n: RealN8n) -> FakeChatModel:
    assert n8n.model is not None
    n8n.model.reset()
    return n8n.model


@pytest.fixture
def postgres(n8n: RealN8n) -> Postgres:
    assert n8n.postgres is not None
    return n8n.postgres


def post(n8n: RealN8n, path: str, request: dict[str, Any]) -> tuple[int, Any]:
    """POST the request signed as the service signs it; a 2xx answer is checked to be signed."""
    assert n8n.n8n is not None
    return signed_post(f"{n8n.n8n.url}/webhook/{path}", request)


def reply_to(lead_id: int, contact_id: int, text: str) -> dict[str, Any]:
    """The example reply request, for another lead and contact, with one client message."""
    request = example("request-reply.json")
    request |= {"conversation_id": f"lead:{lead_id}", "messages": [request["messages"][0] | {"text": text}]}
    request["lead"] |= {"id": lead_id}
    request["contact"] |= {"id": contact_id}
    return request


def memory_of(postgres: Postgres, conversation_id: str) -> list[dict[str, Any]]:
    return postgres.rows(f"SELECT message FROM n8n_chat_histories WHERE session_id = '{conversation_id}'")  # noqa: S608


# ---------------------------------------------------------------------- follow-up
def test_a_quiet_client_gets_a_follow_up_written_from_the_conversation(n8n: RealN8n, model: FakeChatModel) -> None:
    nudge = "Oi, Juliana! Conseguiu pensar na simulação? Se quiser, vejo outro prazo para você."
    model.script(Step(text=nudge))
    request = example("request-follow-up.json")
    FollowUpRequest.model_validate(request)

    status, answer = post(n8n, "kommo-follow-up", request)

    assert status == 200, answer
    assert answer == {"reply": nudge, "actions": [], "usage": usage_reported(model)}
    N8nResponse.model_validate(answer)
    [asked] = model.requests
    system, prompt = asked["messages"][0]["content"], asked["messages"][-1]["content"]
    assert "acompanhamento 1 de 3" in system and "sem markdown" in system and "Carla Mendes" in system
    assert "Juliana" not in system  # the client's data only in the user message
    assert "Cliente: Oi! Qual a parcela de uma carta de 250 mil?" in prompt
    assert "Assistente: Olá, Juliana! Em 180 meses fica em torno de R$ 1.650." in prompt
    assert "97654" not in json.dumps(asked, ensure_ascii=False)  # the phone never reaches the model
    assert not asked.get("tools")


def test_a_follow_up_the_model_fails_to_write_answers_502(n8n: RealN8n, model: FakeChatModel) -> None:
    model.script(Step(status=500))
    status, answer = post(n8n, "kommo-follow-up", example("request-follow-up.json"))
    assert (status, answer["error"]) == (502, "ai_failed"), answer


# ---------------------------------------------------------------------- usage
def test_a_reply_carries_the_tokens_of_every_completion_the_agent_asked_for(n8n: RealN8n, model: FakeChatModel) -> None:
    status, answer = post(n8n, "kommo-reply", reply_to(MARIANA_LEAD, MARIANA, "quero falar com um atendente"))

    assert status == 200, answer
    assert len(model.usages) == 2  # the hand_over call, then the text
    assert answer["usage"] == usage_reported(model)
    assert answer["actions"] == [{"type": "handover", "reason": "o cliente pediu atendimento humano"}]
    N8nResponse.model_validate(answer)


def test_a_first_message_carries_its_token_usage(n8n: RealN8n, model: FakeChatModel) -> None:
    model.script(Step(text="Olá, Juliana! Aqui é o assistente de Carla Mendes."))
    status, answer = post(n8n, "kommo-proactive", example("request-proactive.json") | {"window_open": True})
    assert status == 200, answer
    assert answer["usage"] == usage_reported(model)
    assert answer["usage"]["input_tokens"] > 0 and answer["usage"]["output_tokens"] > 0


def test_a_template_answer_no_model_wrote_carries_no_usage(n8n: RealN8n, model: FakeChatModel) -> None:
    status, answer = post(n8n, "kommo-reply", example("request-reply.json") | {"window_open": False})
    assert status == 200, answer
    assert "usage" not in answer
    assert model.requests == []


# ---------------------------------------------------------------------- erase
def test_erasing_a_contact_deletes_their_chat_memory_once(
    n8n: RealN8n, model: FakeChatModel, postgres: Postgres
) -> None:
    for lead, contact in ((MARIANA_LEAD, MARIANA), (JULIANA_LEAD, 93589659)):
        status, answer = post(n8n, "kommo-reply", reply_to(lead, contact, "oi"))
        assert status == 200, answer
    remembered = len(memory_of(postgres, f"lead:{MARIANA_LEAD}"))
    assert remembered >= 2  # the client's message and the answer
    others = memory_of(postgres, f"lead:{JULIANA_LEAD}")
    assert others
    erase = EraseRequest(contact_id=MARIANA, conversation_ids=[f"contact:{MARIANA}", f"lead:{MARIANA_LEAD}"])

    status, answer = post(n8n, "kommo-erase", erase.model_dump(mode="json"))

    assert (status, answer) == (200, {"erased": True, "conversations": 1, "messages": remembered})
    assert memory_of(postgres, f"lead:{MARIANA_LEAD}") == []
    assert memory_of(postgres, f"lead:{JULIANA_LEAD}") == others  # another contact's memory stays
    again = post(n8n, "kommo-erase", erase.model_dump(mode="json"))
    assert again == (200, {"erased": True, "conversations": 0, "messages": 0})


def test_a_forged_erase_request_deletes_nothing(n8n: RealN8n, model: FakeChatModel, postgres: Postgres) -> None:
    status, answer = post(n8n, "kommo-reply", reply_to(MARIANA_LEAD, MARIANA, "oi de novo"))
    assert status == 200, answer
    remembered = memory_of(postgres, f"lead:{MARIANA_LEAD}")
    assert n8n.n8n is not None
    erase = {"version": "2", "kind": "erase", "contact_id": MARIANA, "conversation_ids": [f"lead:{MARIANA_LEAD}"]}

    status, answer = signed_post(f"{n8n.n8n.url}/webhook/kommo-erase", erase, secret="not-the-shared-secret")

    assert status == 401, answer
    assert memory_of(postgres, f"lead:{MARIANA_LEAD}") == remembered
