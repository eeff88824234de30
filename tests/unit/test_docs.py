"""The docs stand on their own: a clone of the repository has no `../shared/` folder and no design notes
beside it, so no README or doc sends its reader there; what the reader needs from them is in the repo."""

from __future__ import annotations

import re

from local.stack import ROOT

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "n8n").rglob("*.md")])
OUTSIDE = re.compile(r"\.\./shared/|\bshared/\w|\b(design|kommo-api|n8n-local)\.md\b", re.IGNORECASE)
RUNNING_N8N = "Running n8n on a machine like this one"


def test_no_readme_or_doc_sends_its_reader_outside_the_repository() -> None:
    assert len(DOCS) >= 6 and ROOT / "n8n" / "README.md" in DOCS
    pointers = [
        f"{doc.relative_to(ROOT)}:{number}: {line.strip()}"
        for doc in DOCS
        for number, line in enumerate(doc.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert pointers == []


def test_how_to_run_a_real_n8n_here_is_in_the_n8n_readme_the_readme_points_at() -> None:
    assert f'`n8n/README.md`, "{RUNNING_N8N}"' in (ROOT / "README.md").read_text()
    n8n = (ROOT / "n8n" / "README.md").read_text()
    recipe = n8n[n8n.index(f"**{RUNNING_N8N}**") :]
    for step in ('"xlsx": "0.18.5"', "--ignore-scripts", "npm rebuild sqlite3", "N8N_EXPRESSION_ENGINE=legacy"):
        assert step in recipe, step
