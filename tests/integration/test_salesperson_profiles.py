"""Salesperson profiles as data: an operator sets a salesperson's profile through the API (refused with the
field named when it cannot be worked with), the scheduled sync keeps it, the team's profiles file imports
in one command; and the sync sends n8n the salesperson list, once per change, without failing when n8n is
down."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.defaults import SALESPERSON_PROFILES
from local.lambda_events import http_api_event, schedule_event
from scripts.import_profiles import Send, import_profiles, read_profiles
from tests.conftest import API_TOKEN, World

ANA = 8401234
ANA_AT_NIGHT = {
    "areas": ["Auto", "Imóveis"],
    "timezone": "America/Manaus",
    "working_hours": {"mon": ["18:00-24:00"], "tue": ["00:00-02:00", "18:00-24:00"]},
    "meeting_minutes": 45,
}
SALESPEOPLE_PATH = "/webhook/kommo-salespeople"


def vendors(world: World, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One operator request to the salesperson routes."""
    return world.api("VendorSyncFunction", method, path, body)


def through_the_api(world: World) -> Send:
    """The import's requests, sent to the salesperson routes in-process."""
    return lambda method, path, body: vendors(world, method, path, body)


def scheduled_sync(world: World) -> dict[str, Any]:
    return dict(world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction")))


def lists_sent(world: World) -> list[dict[str, Any]]:
    """The salesperson lists n8n received."""
    return [request["body"] for request in world.n8n.requests if request["path"] == SALESPEOPLE_PATH]


@pytest.fixture
def synced(world: World) -> World:
    """The service with the Kommo sandbox's 12 users synced, their profiles from the profile config."""
    scheduled_sync(world)
    return world


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"timezone": "America/Sao Paulo"}, "timezone: Value error, unknown timezone 'America/Sao Paulo'"),
        ({"working_hours": {"mon": ["09:00-12:00", "13:00-24:30"]}}, "working_hours.mon.1: mon: '13:00-24:30' is not"),
        ({"working_hours": {"fri": ["22:00-06:00"]}}, "working_hours.fri.0: fri: '22:00-06:00' does not end after"),
        ({"working_hours": {"segunda": ["09:00-18:00"]}}, "working_hours.segunda: unknown weekday 'segunda'"),
        ({"meeting_minutes": 2}, "meeting_minutes: Input should be greater than or equal to 5"),
        ({"area": ["Auto"]}, "area: Extra inputs are not permitted"),
    ],
    ids=["time-zone", "past-midnight-hour", "overnight-span", "weekday-in-portuguese", "short-meeting", "typo"],
)
def test_a_profile_a_salesperson_cannot_work_with_is_refused_naming_the_field(
    synced: World, change: dict[str, Any], named: str
) -> None:
    status, refused = vendors(synced, "PUT", f"/vendors/{ANA}/profile", {**ANA_AT_NIGHT, **change})
    assert (status, refused["error"]) == (422, "invalid_body")
    assert refused["message"].startswith(named), refused["message"]
    assert vendors(synced, "GET", f"/vendors/{ANA}/profile")[1]["areas"] == ["Auto"]  # nothing stored


def test_a_profile_set_by_the_operator_is_kept_by_the_next_scheduled_sync(synced: World) -> None:
    """Ana now works evenings in Manaus; the profile config still has her on São Paulo days: the API's
    profile stays, and the sync says it kept it."""
    status, stored = vendors(synced, "PUT", f"/vendors/{ANA}/profile", ANA_AT_NIGHT)
    assert status == 200 and stored["timezone"] == "America/Manaus" and stored["buffer_minutes"] == 0
    assert vendors(synced, "GET", f"/vendors/{ANA}/profile") == (200, stored)

    report = scheduled_sync(synced)
    assert ANA in report["profiles_kept"] and ANA not in report["profiles_applied"]
    status, ana = vendors(synced, "GET", f"/vendors/{ANA}")
    assert status == 200 and ana["profile"] == stored and ana["profile_source"] == "api"
    assert vendors(synced, "GET", "/vendors/8401235")[1]["profile_source"] == "config"  # Bruno: never set


def test_a_profile_sent_as_a_form_is_read_all_the_same(synced: World) -> None:
    """`curl -d @ana.json` without a content type sends a form, which API Gateway hands over base64-encoded."""
    event = http_api_event(
        "PUT",
        f"/vendors/{ANA}/profile",
        headers={"authorization": f"Bearer {API_TOKEN}", "content-type": "application/x-www-form-urlencoded"},
        body=json.dumps(ANA_AT_NIGHT),
        base64_body=True,
    )
    response = synced.handler("VendorSyncFunction")(event)
    assert response["statusCode"] == 200, response["body"]
    assert vendors(synced, "GET", f"/vendors/{ANA}/profile")[1]["timezone"] == "America/Manaus"


def test_a_profile_for_someone_not_synced_or_without_a_body_is_refused(synced: World) -> None:
    status, refused = vendors(synced, "PUT", "/vendors/8401299/profile", ANA_AT_NIGHT)
    assert (status, refused["error"]) == (404, "vendor_not_found")
    assert vendors(synced, "GET", "/vendors/8401299")[0] == 404  # no salesperson made up by the PUT
    status, refused = vendors(synced, "PUT", f"/vendors/{ANA}/profile")
    assert (status, refused["error"]) == (400, "invalid_body")


def test_the_teams_profiles_file_imports_in_one_command_even_before_the_first_sync(world: World) -> None:
    """A fresh deploy: nobody is synced yet. The import syncs once and puts all 12 profiles, with the file's
    working hours (the local profile config has everyone at work all day)."""
    profiles = read_profiles(SALESPERSON_PROFILES)
    assert len(profiles) == 12

    refused = import_profiles(profiles, through_the_api(world))
    assert refused == {}
    status, listed = vendors(world, "GET", "/vendors")
    assert status == 200 and {salesperson["profile_source"] for salesperson in listed["vendors"]} == {"api"}
    stored = {salesperson["vendor_id"]: salesperson["profile"] for salesperson in listed["vendors"]}
    assert stored[ANA]["working_hours"]["mon"] == ["09:00-12:00", "13:00-18:00"]
    assert len(scheduled_sync(world)["profiles_kept"]) == 12  # the config's all-day hours do not come back

    assert import_profiles(profiles, through_the_api(world)) == {}


def test_a_bad_profile_in_the_file_is_reported_and_the_others_imported(synced: World) -> None:
    profiles = read_profiles(SALESPERSON_PROFILES)
    profiles[ANA] = {**profiles[ANA], "timezone": "Brasília"}
    refused = import_profiles(profiles, through_the_api(synced))
    assert list(refused) == [ANA] and "422 invalid_body: timezone" in refused[ANA]
    listed = vendors(synced, "GET", "/vendors")[1]
    sources = {salesperson["vendor_id"]: salesperson["profile_source"] for salesperson in listed["vendors"]}
    assert sources.pop(ANA) == "config" and set(sources.values()) == {"api"}


def test_the_sync_sends_n8n_the_salesperson_list_once_until_it_changes(synced: World) -> None:
    [sent] = lists_sent(synced)
    assert sent["version"] == "2" and sent["kind"] == "salespeople" and len(sent["salespeople"]) == 12
    assert sent["salespeople"][0] == {"id": ANA, "name": "Ana Souza", "areas": ["Auto"], "active": True}
    assert "email" not in json.dumps(sent)

    assert scheduled_sync(synced)["list_sent_to_n8n"] is False  # nothing changed: nothing sent
    assert len(lists_sent(synced)) == 1

    synced.kommo.users = [user for user in synced.kommo.users if user["id"] != 8401235]  # Bruno left
    vendors(synced, "PUT", f"/vendors/{ANA}/profile", ANA_AT_NIGHT)
    assert scheduled_sync(synced)["list_sent_to_n8n"] is True
    changed = {entry["id"]: entry for entry in lists_sent(synced)[-1]["salespeople"]}
    assert changed[8401235]["active"] is False and changed[ANA]["areas"] == ["Auto", "Imóveis"]


def test_n8n_down_does_not_fail_the_sync_and_the_next_one_sends_the_list(
    world: World, monkeypatch: pytest.MonkeyPatch, service_logs: Any
) -> None:
    from tests.conftest import reset_caches

    monkeypatch.setenv("N8N_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    reset_caches()
    report = scheduled_sync(world)
    assert len(report["added"]) == 12 and report["list_sent_to_n8n"] is False
    assert "salesperson list not forwarded to n8n" in service_logs.getvalue()

    monkeypatch.setenv("N8N_BASE_URL", world.n8n.url)
    reset_caches()
    assert scheduled_sync(world)["list_sent_to_n8n"] is True
    assert len(lists_sent(world)) == 1
