"""The dialogue set (n8n/evals/, `make eval`) with the scripted chat model, through the shipped workflows in a
real n8n 1.123.81, PostgreSQL with the sample playbook and the service's local run (scripts/evals/run.py): every
dialogue runs, every tool it plays is reached, every mechanical check can be computed and passes; and an answer
that states a price the playbook does not have is caught by the check that reads the playbook from PostgreSQL.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.evals.chat import ScriptedChatModel
from scripts.evals.checks import Check
from scripts.evals.dialogues import Dialogue, load_all
from scripts.evals.run import eval_stack, failures, run_dialogue, table
from scripts.n8n_harness import RealN8n, postgres_binaries


@pytest.fixture(scope="module")
def real(n8n_timings: dict[str, float]) -> Iterator[RealN8n]:
    """The eval's stack (scripts/evals/run.py) with the scripted model, whatever EVAL_MODEL_URL says."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js 20 and npm are needed to install n8n")
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="kommo-eval-test-") as base,
        eval_stack(Path(base), ScriptedChatModel()) as (stack, _),
    ):
        n8n_timings["setup (evals): total"] = time.perf_counter() - started
        yield stack


def planted(reply: str) -> Dialogue:
    """A dialogue whose scripted model searches the playbook for the car's parcel, then answers `reply`."""
    return Dialogue.model_validate(
        {
            "id": "planted-price",
            "title": "a planted answer",
            "covers": ["price_from_playbook"],
            "persona": "Mariana pergunta a parcela do carro.",
            "rubric": "-",
            "lead": {
                "id": 27754599,
                "name": "Consórcio auto - Mariana Costa",
                "area": "Auto",
                "contact": "Mariana Costa",
                "contact_id": 93589657,
                "vendor_id": 8401234,
                "vendor_name": "Ana Souza",
            },
            "turns": [
                {
                    "client": "Quanto fica a parcela de uma carta pra carro?",
                    "expect": {"tools": ["search_playbook"], "cites_playbook": True},
                    "model": [
                        {"tool": "search_playbook", "arguments": {"query": "parcela carta de crédito carro"}},
                        {"text": reply},
                    ],
                }
            ],
        }
    )


def figure_check(checks: list[Check]) -> Check:
    [check] = [check for check in checks if check.name == "figures only from the playbook"]
    return check


def test_every_dialogue_runs_with_the_scripted_model_and_every_check_is_computed(
    real: RealN8n, n8n_timings: dict[str, Any]
) -> None:
    dialogues = load_all()
    started = time.perf_counter()
    results = [run_dialogue(real, dialogue, None) for dialogue in dialogues]
    n8n_timings[f"evals: {len(dialogues)} dialogues"] = time.perf_counter() - started
    print("\n" + table(results))
    assert [result.dialogue.id for result in results] == [dialogue.id for dialogue in dialogues]
    assert [len(result.turns) for result in results] == [len(dialogue.turns) for dialogue in dialogues]
    not_computed = [
        (result.dialogue.id, check.name, check.detail)
        for result in results
        for check in result.checks(judged=False)
        if check.passed is None
    ]
    assert not_computed == []
    assert failures(results) == ""
    judged = {check.detail for result in results for check in result.checks(judged=True)}
    assert judged == {"not judged (EVAL_JUDGE_URL/EVAL_JUDGE_MODEL not set)"}  # never a made-up verdict


def test_an_answer_stating_a_price_not_in_the_playbook_is_caught(real: RealN8n) -> None:
    [turn] = run_dialogue(real, planted("A parcela fica em R$ 987,65 por 77 meses. [fontes: {entry}]"), None).turns
    check = figure_check(turn)
    assert (check.passed, check.detail) == (False, "not in the playbook: R$ 987.65, 77 (prazo/parcelas)")
    assert [c.name for c in turn if c.passed is not True and not c.judged] == ["figures only from the playbook"]


def test_an_answer_quoting_the_playbooks_price_passes(real: RealN8n) -> None:
    [turn] = run_dialogue(real, planted("A parcela fica a partir de {price}. [fontes: {entry}]"), None).turns
    assert figure_check(turn).passed is True
    assert [c.name for c in turn if c.passed is not True and not c.judged] == []
