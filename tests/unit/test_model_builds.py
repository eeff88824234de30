"""Models are built on first use (a cold start builds only what its event needs); the records of a batch
run in threads, so several may be the first to use a model at the same moment, and each must get a
model that validates as it should."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ConfigDict, ValidationError

from sales_assistant.models import Model

THREADS, ROUNDS = 8, 50


def a_fresh_lead_model() -> type[Model]:
    """A model nobody used yet, holding another one nobody used yet."""

    class Contact(Model):
        id: int
        phone: str = ""

    class Lead(Model):
        model_config = ConfigDict(extra="forbid")
        id: int
        contacts: list[Contact] = []

    return Lead


def test_a_model_is_not_built_until_it_is_first_used() -> None:
    lead = a_fresh_lead_model()
    assert not lead.__pydantic_complete__
    lead.model_validate({"id": 1})
    assert lead.__pydantic_complete__


@pytest.fixture
def threads_taking_turns_often() -> Iterator[None]:
    """Python lets a thread run 5 ms before another may take over: longer than a model's build, so the
    threads of a batch would rarely meet inside one. Taking turns every microsecond makes them meet."""
    usual = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(usual)


@pytest.mark.usefixtures("threads_taking_turns_often")
def test_records_of_a_batch_first_using_a_model_at_once_all_get_it_right() -> None:
    wrong = 0
    for _ in range(ROUNDS):
        lead = a_fresh_lead_model()
        start = threading.Barrier(THREADS)

        def validate_at_once(lead: type[Model] = lead, start: threading.Barrier = start) -> bool:
            start.wait()
            parsed = lead.model_validate({"id": 7, "contacts": [{"id": 9, "phone": "+55"}]})
            try:
                lead.model_validate({"id": 7, "unknown": 1})  # extra="forbid" must hold in every thread
            except ValidationError:
                return parsed.model_dump() == {"id": 7, "contacts": [{"id": 9, "phone": "+55"}]}
            return False

        with ThreadPoolExecutor(THREADS) as pool:
            wrong += [future.result() for future in [pool.submit(validate_at_once) for _ in range(THREADS)]].count(
                False
            )
    assert wrong == 0
