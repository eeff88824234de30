"""The dialogue set's mechanical checks (scripts/evals/checks.py) and its files (n8n/evals/*.toml), without n8n:
an answer that states a price, a rate or a term the playbook does not have is caught, one quoting the
playbook passes, and every dialogue file parses, names real tools and covers what issue 25 asks for."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.evals.chat import PLACEHOLDER, RemoteChatModel, judge
from scripts.evals.checks import Playbook, ToolCall, TurnResult, check_turn, invented_figures
from scripts.evals.dialogues import MIN_DIALOGUES, REQUIRED_CATEGORIES, Expect, load_all
from scripts.n8n_fake_model import FakeChatModel, Step

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "n8n" / "supabase" / "playbook"


def sample_playbook(area: str) -> Playbook:
    """The sample playbook's rows of `area` and of every area, as the eval reads them from PostgreSQL."""
    rows = [
        row
        for path in sorted(SAMPLE.glob("playbook_*.csv"))
        for row in csv.DictReader(path.open(encoding="utf-8"))
        if row["area"] in ("", area)
    ]
    return Playbook(texts=tuple(" ".join(row.values()) for row in rows), ids=frozenset(row["id"] for row in rows))


def answer(reply: str, **extra: object) -> TurnResult:
    return TurnResult(200, {"reply": reply, "actions": [], **extra})


def failed(
    result: TurnResult, expect: Expect | None = None, language: str = "pt", area: str = "Auto"
) -> dict[str, str]:
    checks = check_turn(result, expect or Expect(), language, sample_playbook(area))
    return {check.name: check.detail for check in checks if check.passed is not True}


def test_a_reply_quoting_the_car_offer_passes_the_price_check() -> None:
    reply = (
        "Mariana, a carta de R$ 50.000 fica em parcelas de R$ 966,67 por 60 meses, com taxa de administração de 14%."
    )
    assert failed(answer(reply)) == {}


def test_the_same_price_written_another_way_is_still_the_playbooks() -> None:
    assert invented_figures("São 966,67 reais por mês numa carta de 50 mil reais.", sample_playbook("Auto")) == []


def test_a_price_the_playbook_does_not_have_is_caught() -> None:
    problems = failed(answer("Mariana, para uma carta de R$ 80.000 a parcela fica em R$ 1.480,00."))
    assert problems == {"figures only from the playbook": "not in the playbook: R$ 1480, R$ 80000"}


def test_an_invented_rate_and_term_are_caught_too() -> None:
    problems = failed(answer("A taxa de administração é de 12% e o plano tem 72 meses."))
    assert "12%" in problems["figures only from the playbook"]
    assert "72 (prazo/parcelas)" in problems["figures only from the playbook"]


def test_another_areas_price_is_not_the_leads() -> None:
    """The Imóveis offer's parcel quoted to an Auto lead: not in the Auto lead's playbook."""
    problems = failed(answer("A parcela fica R$ 1.666,67 por 180 meses."), area="Auto")
    assert problems["figures only from the playbook"] == "not in the playbook: R$ 1666.67, 180 (prazo/parcelas)"
    assert failed(answer("A parcela fica R$ 1.666,67 por 180 meses."), area="Imóveis") == {}


def test_an_expired_offer_is_no_source() -> None:
    """The Black Friday offer (valid until 2026-11-30) is left out when the eval reads the valid offers;
    without its row, its zero fee is an invented price."""
    playbook = sample_playbook("Auto")
    still_valid = Playbook(
        texts=tuple(text for text in playbook.texts if "oferta-black-friday-2026" not in text), ids=playbook.ids
    )
    assert invented_figures("A adesão sai por R$ 0,00.", still_valid) == [("money", 0)]


def test_figures_without_a_playbook_are_not_computable_and_none_pass() -> None:
    nothing = Playbook(missing="no playbook tables in the database")
    [figures] = [c for c in check_turn(answer("Custa R$ 10,00."), Expect(), "pt", nothing) if "figures" in c.name]
    assert (figures.passed, figures.detail) == (None, "no playbook tables in the database")
    [figures] = [c for c in check_turn(answer("O consultor confirma."), Expect(), "pt", nothing) if "figures" in c.name]
    assert figures.passed is True


def test_markdown_length_and_language_are_checked() -> None:
    problems = failed(answer("**Oi!**\n- parcela baixa\n" + "texto " * 120), Expect(max_chars=600))
    assert set(problems) == {"no markdown", "at most 600 characters"}
    assert failed(answer("Hello! Our consultant will call you."), language="pt") == {"written in pt": "reads as en"}
    assert failed(answer("¡Hola! Su asesora le llama pronto."), language="es") == {}


def test_tools_fields_handover_and_cited_entries_are_checked() -> None:
    expect = Expect(
        tools=["set_fields", "hand_over"],
        tool_args={"hand_over": {"reason": "humano"}},
        fields={"valor_credito": 60000, "interesse": "carro"},
        handover=True,
        cites_playbook=True,
    )
    done = TurnResult(
        200,
        {
            "reply": "Anotado! A Ana vai continuar o atendimento.",
            "actions": [
                {"type": "handover", "reason": "pediu um humano"},
                {"type": "set_fields", "fields": {"valor_credito": 60000.0, "interesse": "Carro"}},
            ],
            "playbook_ids": ["faq-como-funciona"],
        },
        [ToolCall("set_fields", {"fields": {}}), ToolCall("hand_over", {"reason": "o cliente pediu um humano"})],
    )
    assert failed(done, expect) == {}
    not_done = answer("Anotado!", playbook_ids=["oferta-imovel-250mil"])
    assert set(failed(not_done, expect)) == {
        "called set_fields",
        "called hand_over",
        "hand_over arguments {'reason': 'humano'}",
        "field valor_credito = 60000",
        "field interesse = 'carro'",
        "hands over",
        "names the playbook entries it used",
    }


def test_an_unsigned_or_refused_answer_is_not_valid() -> None:
    assert (
        failed(TurnResult(200, {"reply": "Oi!", "actions": []}, signed=False))["a valid answer"] == "not signed by n8n"
    )
    assert "status 502" in failed(TurnResult(502, {"error": "ai_failed"}))["a valid answer"]


# ---------------------------------------------------------------------- the dialogue files
DIALOGUES = load_all()
REPLY_TOOLS = {
    node["name"]
    for node in json.loads((ROOT / "n8n" / "workflows" / "kommo-reply.json").read_text())["nodes"]
    if "tool" in node["type"].lower()
}


def test_there_are_enough_dialogues_and_they_cover_every_required_case() -> None:
    assert len(DIALOGUES) >= MIN_DIALOGUES
    covered = {category for dialogue in DIALOGUES for category in dialogue.covers}
    assert set(REQUIRED_CATEGORIES) <= covered


@pytest.mark.parametrize("dialogue", DIALOGUES, ids=lambda dialogue: dialogue.id)
def test_a_dialogue_names_only_tools_the_reply_workflow_offers_and_known_placeholders(dialogue: object) -> None:
    from scripts.evals.dialogues import Dialogue

    assert isinstance(dialogue, Dialogue)
    for turn in dialogue.turns:
        named = {step.tool for step in turn.model if step.tool}
        named |= set(turn.expect.tools) | set(turn.expect.tool_args) | set(turn.expect.tools_succeeded)
        named |= set(turn.expect.forbidden_tools) - {"*"}
        assert named <= REPLY_TOOLS, named - REPLY_TOOLS
        for step in turn.model:
            written = step.text + json.dumps(step.arguments or {})
            braces = re.findall(r"\{[a-z_:0-9]+\}", written)
            assert all(PLACEHOLDER.fullmatch(brace) for brace in braces), braces


# ---------------------------------------------------------------------- a real model, a judge
@pytest.fixture
def endpoint() -> Iterator[FakeChatModel]:
    """An OpenAI-compatible endpoint on loopback standing in for the user's model or judge."""
    served = FakeChatModel().start()
    yield served
    served.stop()


def test_a_real_models_endpoint_gets_every_completion_under_its_own_model_name(endpoint: FakeChatModel) -> None:
    endpoint.script(Step(text="Olá! A Ana confirma as condições."))
    remote = RemoteChatModel(upstream=endpoint.url, upstream_model="user-model", upstream_key="user-key")
    asked = {"model": "gpt-4.1-mini", "stream": True, "messages": [{"role": "user", "content": "oi"}]}
    completion = remote.complete(asked)
    assert completion["choices"][0]["message"]["content"] == "Olá! A Ana confirma as condições."
    assert [(r["model"], r["stream"]) for r in endpoint.requests] == [("user-model", False)]
    assert remote.requests == [asked]  # what n8n asked, where the turn's tool calls are read


def test_a_model_endpoint_that_fails_is_a_failed_completion(endpoint: FakeChatModel) -> None:
    endpoint.script(Step(status=500))
    remote = RemoteChatModel(upstream=endpoint.url, upstream_model="user-model")
    assert remote.complete({"messages": []})["error"]["code"] == 502


def test_the_judge_gives_a_verdict_or_none_never_a_made_up_one(endpoint: FakeChatModel) -> None:
    endpoint.script(
        Step(text='Avaliação: {"pass": false, "reason": "citou um prazo que o playbook não tem"}'),
        Step(text="Parece bom."),
    )
    case = {"criterios": ["só preços do playbook"], "resposta_do_assistente": "São 72 meses."}
    assert judge(endpoint.url, "judge-model", "", case) == (False, "citou um prazo que o playbook não tem")
    assert judge(endpoint.url, "judge-model", "", case) == (None, "the judge gave no verdict (status 200)")
    assert endpoint.requests[0]["model"] == "judge-model"


def test_a_dialogue_file_with_a_mistake_is_refused_by_its_name(tmp_path: Path) -> None:
    (tmp_path / "40-sem-persona.toml").write_text('title = "x"\ncovers = ["faq"]\nrubric = "y"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"40-sem-persona\.toml: (.|\n)*persona"):
        load_all(tmp_path)
