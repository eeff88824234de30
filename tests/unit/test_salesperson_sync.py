"""The salesperson sync as pure logic: added, changed and departed users, and local profiles kept."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sales_assistant.models.kommo import KommoUser, UserRights
from sales_assistant.models.salesperson import SalespersonProfile, SalespersonProfiles
from sales_assistant.services.salespeople import sync_salespeople
from tests.unit.fakes import InMemorySalespeople

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
