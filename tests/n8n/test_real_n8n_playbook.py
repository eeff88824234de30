"""The playbook (n8n/supabase/schema.sql's playbook tables, loaded with the sample n8n/supabase/playbook/ by
scripts/playbook.py) in real PostgreSQL and a real n8n 1.123.81: search_playbook finds entries in Portuguese
whatever the accents and plurals, only of the lead's area and only offers valid today; the reply and first-message
agents are told the company of the lead's area and search it with their tool, the answer names the entries it
used, and a row edited in the table changes the next answer with no n8n change.

Setup (once for the module): PostgreSQL, the fake chat model and n8n with the shipped workflows
(scripts/n8n_harness.py), requests signed as the service signs them. No service runs: nothing here reaches its API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sales_assistant.models.n8n import N8nResponse
from scripts.n8n_fake_model import REPLY_PREFIX, FakeChatModel, Step
from scripts.n8n_harness import Postgres, RealN8n, free_port
from scripts.playbook import TABLES, export_playbook, import_playbook
from tests.n8n.conftest import real_n8n
from tests.n8n.test_real_n8n import N8N_API_TOKEN, SECRET, example, first_item, signed_post

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "n8n" / "supabase" / "playbook"


@pytest.fixture(scope="module")
def n8n(n8n_timings: dict[str, float]) -> Iterator[RealN8n]:
    started = time.perf_counter()
    paths = ("kommo-reply", "kommo-proactive")
    with real_n8n("kommo-n8n-playbook-", SECRET, f"http://127.0.0.1:{free_port()}", N8N_API_TOKEN, paths) as real:
        assert real.postgres is not None
        import_playbook(real.postgres.url, SAMPLE)
        n8n_timings["setup (playbook): total"] = time.perf_counter() - started
        yield real


@pytest.fixture
def postgres(n8n: RealN8n) -> Iterator[Postgres]:
    """The database, with the sample playbook as shipped again after the test (whatever it edited)."""
    assert n8n.postgres is not None
    yield n8n.postgres
    import_playbook(n8n.postgres.url, SAMPLE, prune=True)


@pytest.fixture
def model(n8n: RealN8n) -> FakeChatModel:
    assert n8n.model is not None
    n8n.model.reset()
    return n8n.model


def found(postgres: Postgres, area: str, query: str) -> list[str]:
    """The ids search_playbook returns for a lead of `area` asking `query`, best first."""
    rows = postgres.rows(f"SELECT id FROM search_playbook({quoted(area)}, {quoted(query)})")  # noqa: S608
    return [row["id"] for row in rows]


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def reply(n8n: RealN8n, request: dict[str, Any], path: str = "kommo-reply") -> dict[str, Any]:
    """The workflow's answer to the signed request, valid for the service."""
    assert n8n.n8n is not None
    status, answer = signed_post(f"{n8n.n8n.url}/webhook/{path}", request)
    assert status == 200, answer
    N8nResponse.model_validate(answer)
    return dict(answer)


def asking(text: str) -> dict[str, Any]:
    """Mariana's reply request (docs/contracts/examples/request-reply.json, her lead of the area Auto) with
    one client message."""
    request = example("request-reply.json")
    request["messages"] = [request["messages"][0] | {"text": text}]
    return request


# ---------------------------------------------------------------------- search_playbook in PostgreSQL
@pytest.mark.parametrize(
    "query",
    ["Qual o prazo de entrega?", "quais são os prazos de entrega", "PRAZOS DE ENTREGA DO CONSORCIO?"],
)
def test_a_question_in_portuguese_finds_the_faq_entry_whatever_its_accents_and_plurals(
    postgres: Postgres, query: str
) -> None:
    assert found(postgres, "Auto", query)[0] == "faq-prazo-entrega"


def test_consorcio_with_or_without_its_accent_finds_the_same_entries(postgres: Postgres) -> None:
    with_accent = found(postgres, "Auto", "como funciona o consórcio")
    assert with_accent[0] == "faq-como-funciona"
    assert found(postgres, "Auto", "como funciona o consorcio") == with_accent


def test_an_entry_of_another_area_is_not_returned(postgres: Postgres) -> None:
    assert found(postgres, "Imóveis", "posso usar o FGTS?")[0] == "faq-imovel-fgts"
    assert found(postgres, "imoveis", "posso usar o FGTS?")[0] == "faq-imovel-fgts"  # the area's case and accents
    assert "faq-imovel-fgts" not in found(postgres, "Auto", "posso usar o FGTS?")
    assert "faq-imovel-fgts" not in found(postgres, "", "posso usar o FGTS?")  # a lead of no area: every area's only


def test_only_the_offers_valid_today_are_returned(postgres: Postgres) -> None:
    postgres.psql(
        "INSERT INTO playbook_offers (id, area, name, prices_and_conditions, valid_from, valid_to) VALUES "
        "('teste-relampago-vencida', '', 'Promoção relâmpago', 'R$ 10,00', current_date - 30, current_date - 1), "
        "('teste-relampago-futura', '', 'Promoção relâmpago', 'R$ 20,00', current_date + 1, current_date + 30), "
        "('teste-relampago-hoje', '', 'Promoção relâmpago', 'R$ 30,00', current_date, current_date), "
        "('teste-relampago-sempre', '', 'Promoção relâmpago', 'R$ 40,00', NULL, NULL)"
    )
    assert sorted(found(postgres, "Auto", "promoção relâmpago")) == ["teste-relampago-hoje", "teste-relampago-sempre"]
    assert "oferta-black-friday-2026" not in found(postgres, "Auto", "black friday taxa de adesão")  # until 30/11/2026


# ---------------------------------------------------------------------- the workflows
def test_the_reply_agent_searches_the_playbook_and_the_answer_names_the_entry_it_used(
    n8n: RealN8n, postgres: Postgres, model: FakeChatModel
) -> None:
    model.script(
        Step(tool="search_playbook", arguments={"query": "prazos de entrega"}),
        Step(text="Depois da contemplação, o pagamento sai em até 10 dias úteis. [fontes: faq-prazo-entrega]"),
    )

    answer = reply(n8n, asking("Depois que eu for sorteada, em quanto tempo recebo?"))

    assert answer["reply"] == "Depois da contemplação, o pagamento sai em até 10 dias úteis."
    assert answer["playbook_ids"] == ["faq-prazo-entrega"]
    [searched] = model.tool_results()
    assert first_item(searched)["entries"][0] | {"body": ""} == {
        "id": "faq-prazo-entrega",
        "kind": "faq",
        "title": "Qual o prazo de entrega depois da contemplação?",
        "body": "",
    }
    system = model.requests[0]["messages"][0]["content"]
    assert "Você é o assistente virtual de vendas de Horizonte Consórcios no WhatsApp." in system
    assert "- É para carro, moto ou caminhão? (campo interesse)" in system  # Auto's question, its field offered
    assert "- Reclamações (por exemplo: reclamação, reclamar" in system
    assert "Você quer comprar, construir ou reformar?" not in system  # Imóveis' question
    assert "search_playbook" in {tool["function"]["name"] for tool in model.requests[0]["tools"]}


def test_an_edited_faq_answer_is_the_next_answer_with_no_n8n_change(
    n8n: RealN8n, postgres: Postgres, model: FakeChatModel
) -> None:
    """The fake model quotes what the tool answered: the answer follows the table."""
    asked = asking("Qual o prazo de entrega?")
    model.script(Step(tool="search_playbook", arguments={"query": "prazo de entrega"}))
    assert "até 10 dias úteis" in str(reply(n8n, asked)["reply"])

    postgres.psql(
        "UPDATE playbook_faq SET answer = 'Aprovada a análise, o pagamento sai em até 15 dias úteis.' "
        "WHERE id = 'faq-prazo-entrega'"
    )
    model.reset()
    model.script(Step(tool="search_playbook", arguments={"query": "prazo de entrega"}))
    edited = str(reply(n8n, asked)["reply"])
    assert edited.startswith(REPLY_PREFIX)
    assert "até 15 dias úteis" in edited and "10 dias" not in edited


def test_a_company_edited_for_an_area_speaks_to_that_areas_leads_at_the_next_message(
    n8n: RealN8n, postgres: Postgres, model: FakeChatModel
) -> None:
    postgres.psql(
        "INSERT INTO playbook_company (id, area, name, sells, words_to_avoid) "
        "VALUES ('empresa-auto', 'Auto', 'Horizonte Veículos', 'cartas de crédito para carros', '{barato}')"
    )
    model.script(Step(text=f"{REPLY_PREFIX} Olá!"))
    reply(n8n, asking("oi"))
    system = model.requests[0]["messages"][0]["content"]
    assert "de Horizonte Veículos no WhatsApp. A empresa vende cartas de crédito para carros." in system
    assert "Nunca use estas palavras ou expressões: barato." in system


def test_an_id_the_search_did_not_return_is_not_named(n8n: RealN8n, postgres: Postgres, model: FakeChatModel) -> None:
    model.script(
        Step(tool="search_playbook", arguments={"query": "parcela de carro"}),
        Step(text="A parcela fica em R$ 999,00. [fontes: oferta-inventada]"),
    )
    answer = reply(n8n, asking("Quanto fica a parcela de um carro?"))
    assert answer["reply"] == "A parcela fica em R$ 999,00."
    assert "playbook_ids" not in answer


def test_a_first_message_is_written_from_the_playbook_of_the_leads_area(
    n8n: RealN8n, postgres: Postgres, model: FakeChatModel
) -> None:
    model.script(
        Step(tool="search_playbook", arguments={"query": "carta de crédito imóvel"}),
        Step(text="Olá, Juliana! Temos carta de R$ 250.000 em 180 meses. [fontes: oferta-imovel-250mil]"),
    )
    request = example("request-proactive.json") | {"window_open": True}  # Juliana, area Imóveis

    answer = reply(n8n, request, "kommo-proactive")

    assert answer["reply"] == "Olá, Juliana! Temos carta de R$ 250.000 em 180 meses."
    assert answer["playbook_ids"] == ["oferta-imovel-250mil"]
    system = model.requests[0]["messages"][0]["content"]
    assert "A empresa vende consórcio de imóveis" in system
    assert "(de preferência: Você quer comprar, construir ou reformar?)" in system


def test_a_playbook_that_cannot_be_read_answers_503_for_the_service_to_retry(
    n8n: RealN8n, postgres: Postgres, model: FakeChatModel
) -> None:
    assert n8n.n8n is not None
    postgres.psql("ALTER TABLE playbook_company RENAME TO playbook_company_offline")
    try:
        status, answer = signed_post(f"{n8n.n8n.url}/webhook/kommo-reply", asking("oi"))
    finally:
        postgres.psql("ALTER TABLE playbook_company_offline RENAME TO playbook_company")
    assert (status, answer["error"]) == (503, "database_error"), answer
    assert model.requests == []  # no answer written without the business's rules


# ---------------------------------------------------------------------- the CSV files
def test_the_sample_exports_as_shipped_and_an_import_with_prune_makes_the_tables_the_files(
    postgres: Postgres, tmp_path: Path
) -> None:
    export_playbook(postgres.url, tmp_path / "exported")
    for table in TABLES:
        assert (tmp_path / "exported" / f"{table}.csv").read_text() == (SAMPLE / f"{table}.csv").read_text(), table

    edited = tmp_path / "edited"
    edited.mkdir()
    faq = (SAMPLE / "playbook_faq.csv").read_text().splitlines(keepends=True)
    kept = [line for line in faq if not line.startswith("faq-transferencia,")]
    (edited / "playbook_faq.csv").write_text("".join(kept).replace("até 10 dias úteis", "até 7 dias úteis"))
    import_playbook(postgres.url, edited)  # an upsert: the row left out of the file stays
    import_playbook(postgres.url, edited)  # twice changes nothing
    assert "faq-transferencia" in found(postgres, "Auto", "transferir minha cota")
    import_playbook(postgres.url, edited, prune=True)
    assert "faq-transferencia" not in found(postgres, "Auto", "transferir minha cota")
    answer = postgres.psql("SELECT answer FROM playbook_faq WHERE id = 'faq-prazo-entrega'")
    assert answer.endswith("sai em até 7 dias úteis.")
    offers = len((SAMPLE / "playbook_offers.csv").read_text().splitlines()) - 1
    assert postgres.psql("SELECT count(*) FROM playbook_offers") == str(offers)  # no file: the table untouched
