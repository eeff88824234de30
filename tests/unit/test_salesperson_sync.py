"""The salesperson sync as pure logic: added, changed and departed users, local profiles kept (a profile set
through the API over the profile config's), and the salesperson list sent to n8n only when it changed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sales_assistant.models.kommo import KommoUser, UserRights
from sales_assistant.models.n8n import SalespeopleRequest
from sales_assistant.models.salesperson import SalespersonProfile, SalespersonProfiles
from sales_assistant.services.ports.n8n import AiFailure
from sales_assistant.services.salespeople import forward_salespeople, sync_salespeople
from tests.unit.fakes import FakeN8n, InMemorySalespeople, InMemorySentSalespeople

ANA = KommoUser(id=1, name="Ana Souza", email="ana@vendas.com.br")
BRUNO = KommoUser(id=2, name="Bruno Oliveira", email="bruno@vendas.com.br")
ANA_AREAS = SalespersonProfile(areas=["Auto"], working_hours={"mon": ["09:00-18:00"]})


def test_first_sync_adds_every_salesperson_with_their_profile() -> None:
    repository = InMemorySalespeople()
    report = sync_salespeople([ANA, BRUNO], {1: ANA_AREAS}, repository, now=100)
    assert report.added == [1, 2] and report.profiles_applied == [1]
    assert repository.salespeople[1].profile.areas == ["Auto"]


def test_a_salesperson_who_left_kommo_is_kept_inactive() -> None:
    repository = InMemorySalespeople()
    sync_salespeople([ANA, BRUNO], {}, repository, now=100)
    report = sync_salespeople([ANA], {}, repository, now=200)
    assert report.left == [2]
    assert repository.salespeople[2].active is False and repository.salespeople[2].left_at == 200
    assert sync_salespeople([ANA], {}, repository, now=300).left == []  # reported once


def test_a_renamed_or_deactivated_salesperson_is_updated() -> None:
    repository = InMemorySalespeople()
    sync_salespeople([ANA], {}, repository, now=100)
    renamed = ANA.model_copy(update={"name": "Ana Souza Lima", "rights": UserRights(is_active=False)})
    assert sync_salespeople([renamed], {}, repository, now=200).updated == [1]
    assert repository.salespeople[1].name == "Ana Souza Lima" and repository.salespeople[1].active is False


def test_a_profile_missing_from_the_config_is_left_untouched() -> None:
    repository = InMemorySalespeople()
    sync_salespeople([ANA], {1: ANA_AREAS}, repository, now=100)
    sync_salespeople([ANA], {}, repository, now=200)
    assert repository.salespeople[1].profile == ANA_AREAS


def test_the_profile_config_is_validated() -> None:
    with pytest.raises(ValidationError, match="HH:MM"):
        SalespersonProfiles.model_validate({"vendors": {"1": {"working_hours": {"mon": ["9h-18h"]}}}})
    with pytest.raises(ValidationError, match="weekday"):
        SalespersonProfiles.model_validate({"vendors": {"1": {"working_hours": {"segunda": ["09:00-18:00"]}}}})


def test_a_profile_set_through_the_api_is_kept_whatever_the_config_says() -> None:
    """The operator moved Ana to Imóveis through the API; the profile config still says Auto: Ana stays in
    Imóveis, and the sync reports the config's profile as not applied."""
    repository = InMemorySalespeople()
    sync_salespeople([ANA], {1: ANA_AREAS}, repository, now=100)
    chosen = SalespersonProfile(areas=["Imóveis"])
    assert repository.save_profile(1, chosen, "api")
    report = sync_salespeople([ANA], {1: ANA_AREAS}, repository, now=200)
    assert (report.profiles_applied, report.profiles_kept) == ([], [1])
    assert repository.salespeople[1].profile == chosen and repository.salespeople[1].profile_source == "api"


SALESPEOPLE_PATH = "/webhook/kommo-salespeople"


def listed(request: SalespeopleRequest) -> list[tuple[int, str, list[str], bool]]:
    return [(entry.id, entry.name, entry.areas, entry.active) for entry in request.salespeople]


def test_the_salesperson_list_goes_to_n8n_once_and_again_only_when_it_changed() -> None:
    repository, n8n, sent = InMemorySalespeople(), FakeN8n(), InMemorySentSalespeople()
    sync_salespeople([ANA, BRUNO], {1: ANA_AREAS}, repository, now=100)
    assert forward_salespeople(repository.all(), n8n, sent, SALESPEOPLE_PATH) is True
    [(path, request)] = n8n.delivered
    assert path == SALESPEOPLE_PATH and request.kind == "salespeople"
    assert listed(request) == [(1, "Ana Souza", ["Auto"], True), (2, "Bruno Oliveira", [], True)]

    sync_salespeople([ANA, BRUNO], {1: ANA_AREAS}, repository, now=200)  # nothing changed in Kommo
    assert forward_salespeople(repository.all(), n8n, sent, SALESPEOPLE_PATH) is False
    assert len(n8n.delivered) == 1

    sync_salespeople([ANA], {1: ANA_AREAS}, repository, now=300)  # Bruno left
    assert forward_salespeople(repository.all(), n8n, sent, SALESPEOPLE_PATH) is True
    assert listed(n8n.delivered[-1][1])[1] == (2, "Bruno Oliveira", [], False)


def test_n8n_down_leaves_the_list_to_the_next_sync() -> None:
    repository, n8n, sent = InMemorySalespeople(), FakeN8n(), InMemorySentSalespeople()
    sync_salespeople([ANA, BRUNO], {}, repository, now=100)
    n8n.down = AiFailure("unreachable")
    assert forward_salespeople(repository.all(), n8n, sent, SALESPEOPLE_PATH) is False
    assert n8n.delivered == [] and sent.last() == ""

    n8n.down = None  # n8n is back: the next sync sends the list it missed
    assert forward_salespeople(repository.all(), n8n, sent, SALESPEOPLE_PATH) is True
    assert len(listed(n8n.delivered[0][1])) == 2
