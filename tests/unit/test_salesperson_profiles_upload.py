"""The salesperson profiles reach AWS by the deploy step the docs give: an SSM parameter of the tier that
step names, filled with config/vendor-profiles.json as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sales_assistant.models.salesperson import SalespersonProfiles

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "config" / "vendor-profiles.json"
UPLOAD = re.compile(r"`(aws ssm put-parameter [^`]*/vendor-profiles [^`]*)`")
MAX_VALUE = {"Standard": 4096, "Advanced": 8192}  # the characters one SSM parameter value may hold, per tier


@pytest.mark.parametrize("doc", ["README.md", "docs/architecture.md"])
def test_the_seed_salespeople_fit_the_parameter_tier_the_documented_upload_names(doc: str) -> None:
    [command] = UPLOAD.findall((ROOT / doc).read_text())
    assert "--value file://config/vendor-profiles.json" in command  # uploaded byte for byte
    tier = re.search(r"--tier (\S+)", command)
    limit = MAX_VALUE[tier.group(1) if tier else "Standard"]
    assert len(SEED.read_bytes()) <= limit  # bytes: never fewer than the characters SSM counts
    assert SalespersonProfiles.model_validate_json(SEED.read_text()).vendors  # valid salesperson profiles too
