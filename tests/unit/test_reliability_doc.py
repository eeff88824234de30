"""docs/reliability.md names the tests that guard each defect it lists: every one of them exists."""

from __future__ import annotations

import re

from local.stack import ROOT

REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_every_test_the_reliability_doc_names_exists() -> None:
    references = REFERENCE.findall((ROOT / "docs" / "reliability.md").read_text())
    assert len(references) >= 20
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (ROOT / path).exists() or not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE)
    ]
    assert missing == []
