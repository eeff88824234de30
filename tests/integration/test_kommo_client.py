"""The Kommo client against the sandbox: token rotation under concurrency, the shared rate limit,
retries, typed errors and pagination."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.kommo_seed import CLIENT_ID, CLIENT_SECRET
from sales_assistant.adapters.kommo import KommoClient, KommoReauthorizationRequired, KommoUnavailable
from sales_assistant.adapters.kommo.client import pooled_session, token_source
from sales_assistant.adapters.kommo.errors import KommoForbidden, KommoNotFound
from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter
from sales_assistant.adapters.kommo.tokens import DynamoTokenStore
from sales_assistant.config import Settings, get_settings
from sales_assistant.invocation import set_invocation_context
from sales_assistant.models.kommo import TokenPair


@pytest.fixture(autouse=True)
def outside_an_invocation() -> Iterator[None]:
    """No Lambda context left over from a handler another test ran (it would say no time is left for a
    token refresh): no time limit unless a test sets one."""
    set_invocation_context(None)
    yield
    set_invocation_context(None)


class NoLimit:
    def acquire(self) -> None:
        return None


def oauth_settings(sandbox: Any) -> Settings:
    return get_settings().model_copy(
        update={
            "kommo_base_url": sandbox.url,
            "kommo_long_lived_token": type(get_settings().kommo_long_lived_token)(""),
            "kommo_client_id": CLIENT_ID,
            "kommo_client_secret": type(get_settings().kommo_client_secret)(CLIENT_SECRET),
            "kommo_redirect_uri": "https://vendasdemo.example/oauth",
        }
    )


def client_for(settings: Settings, limiter: Any = None) -> KommoClient:
    session = pooled_session()
    return KommoClient(
        settings.kommo_api_base,
        token_source(settings, session),
        limiter or NoLimit(),
        session=session,
        sleep=lambda _: None,
    )


def store_pair(sandbox: Any, settings: Settings, *, expires_in: int) -> None:
    pair = sandbox.issue_pair(expires_in=expires_in)
    DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id).save(
        TokenPair(
            access_token=pair["access_token"],
            refresh_token=pair["refresh_token"],
            expires_at=int(time.time()) + expires_in,
        ),
        version=1,
    )


def test_twenty_workers_with_an_expired_token_cause_exactly_one_refresh(
    aws: Any, kommo_sandbox: Any, atomic_dynamodb: None
) -> None:
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=-10)
    kommo_sandbox.rate_limit_per_second = 1000

    def worker(_: int) -> str:
        return client_for(settings).lead(27754599).name  # each worker: its own client, like a Lambda

    with ThreadPoolExecutor(max_workers=20) as pool:
        names = list(pool.map(worker, range(20)))
    kommo_sandbox.rate_limit_per_second = 7
    assert names == ["Consórcio auto - Mariana Costa"] * 20
    assert kommo_sandbox.refresh_calls == 1
    assert DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id).load().version == 2  # type: ignore[union-attr]


def test_a_401_refreshes_once_and_the_call_succeeds(aws: Any, kommo_sandbox: Any) -> None:
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=3600)
    kommo_sandbox.access_tokens.clear()  # Kommo revoked the access token early
    assert client_for(settings).contact(93589657).phone == "+55 11 98765-4321"
    assert kommo_sandbox.refresh_calls == 1


def test_a_refused_refresh_token_fails_loudly(aws: Any, kommo_sandbox: Any) -> None:
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=-10)
    kommo_sandbox.refresh_tokens.clear()  # someone else used it: invalid_grant
    with pytest.raises(KommoReauthorizationRequired, match="re-authorise"):
        client_for(settings).lead(27754599)


def test_no_stored_token_asks_for_authorisation(aws: Any, kommo_sandbox: Any) -> None:
    with pytest.raises(KommoReauthorizationRequired, match="authorise"):
        client_for(oauth_settings(kommo_sandbox)).lead(27754599)


class SlotsNoted(SharedRateLimiter):
    """The shared rate limiter, noting the send slot (unix ms) of every request it lets go to Kommo."""

    def __init__(self, table_name: str, per_second: float, noted: list[int]) -> None:
        super().__init__(table_name, per_second)
        self._noted = noted
        self._slot_ms = 0

    def _reserve(self, now_ms: int) -> int:
        self._slot_ms = super()._reserve(now_ms)
        return self._slot_ms

    def acquire(self) -> None:
        super().acquire()
        self._noted.append(self._slot_ms)


def test_a_burst_of_100_calls_never_exceeds_7_in_any_second(
    aws: Any, kommo_sandbox: Any, atomic_dynamodb: None
) -> None:
    """Ten "Lambdas" read 100 leads through one shared bucket: no second holds more than 7 send slots,
    nothing reaches Kommo without one, and every lead is read. What the limiter decides is its slots: a
    busy machine can hold a request between its slot and Kommo, and Kommo's 429 for it is waited out
    and the request sent again (in a slot of its own), so Kommo may see a few more than 100 requests."""
    settings = get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url})
    slots: list[int] = []
    leads = [27754599 + index % 6 for index in range(100)]

    def worker(lead_id: int) -> int:
        limiter = SlotsNoted(settings.kommo_table, 7, slots)  # one limiter per "Lambda", one shared bucket
        return client_for(settings, limiter).lead(lead_id).id

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert list(pool.map(worker, leads)) == leads
    slots.sort()
    assert len(slots) >= 100
    busiest = max(sum(1 for slot in slots[i:] if slot - start < 1000) for i, start in enumerate(slots))
    assert busiest <= 7
    reads = kommo_sandbox.calls("GET", "/api/v4/leads")
    assert len(reads) <= len(slots)  # no request without a slot
    assert {request.status for request in reads} <= {200, 429}


def test_a_429_then_200_succeeds_after_waiting(aws: Any, kommo_sandbox: Any) -> None:
    settings = get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url})
    kommo_sandbox.fail_next("/api/v4/leads", 429, headers={"Retry-After": "1"})
    waits: list[float] = []
    session = pooled_session()
    client = KommoClient(
        settings.kommo_api_base, token_source(settings, session), NoLimit(), session=session, sleep=waits.append
    )
    assert client.lead(27754599).id == 27754599
    assert waits and waits[0] >= 1.0  # Retry-After honoured


def test_5xx_is_retried_for_reads_but_not_for_notes(aws: Any, kommo_sandbox: Any) -> None:
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    kommo_sandbox.fail_next("/api/v4/leads/27754599", 503, times=2)
    assert client.lead(27754599).id == 27754599
    assert len(kommo_sandbox.calls("GET", "/api/v4/leads/27754599")) == 3

    kommo_sandbox.fail_next("/api/v4/leads/27754599/notes", 503)
    with pytest.raises(KommoUnavailable):
        client.add_note(27754599, "Cliente pediu retorno")
    assert len(kommo_sandbox.calls("POST", "/api/v4/leads/27754599/notes")) == 1
    assert kommo_sandbox.notes == []


def test_403_is_never_retried_and_calls_pause(aws: Any, kommo_sandbox: Any) -> None:
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    kommo_sandbox.fail_next("/api/v4/leads", 403)
    with pytest.raises(KommoForbidden):
        client.lead(27754599)
    with pytest.raises(KommoForbidden):
        client.lead(27754599)
    assert len(kommo_sandbox.calls("GET", "/api/v4/leads")) == 1


def test_problem_json_becomes_a_typed_error(aws: Any, kommo_sandbox: Any) -> None:
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    with pytest.raises(KommoNotFound) as raised:
        client.lead(1)
    assert raised.value.kommo_status == 404 and raised.value.problem["title"] == "Not Found"


def test_users_are_read_over_three_pages_until_the_204(aws: Any, kommo_sandbox: Any, monkeypatch: Any) -> None:
    from sales_assistant.adapters.kommo import client as client_module

    monkeypatch.setattr(client_module, "PAGE_LIMIT", 5)
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    users = client.users()
    assert len(users) == 12 and users[0].name == "Ana Souza"
    assert len(kommo_sandbox.calls("GET", "/api/v4/users")) == 3

    kommo_sandbox.users = kommo_sandbox.users[:10]  # two full pages: the third answers 204
    kommo_sandbox.requests.clear()
    assert len(client.users()) == 10
    assert [r.status for r in kommo_sandbox.calls("GET", "/api/v4/users")] == [200, 200, 204]


def test_the_authorization_code_bootstrap_stores_a_pair_the_client_uses(aws: Any, kommo_sandbox: Any) -> None:
    from local.kommo_sandbox import AUTHORIZATION_CODE
    from sales_assistant.adapters.kommo.client import store_authorization

    settings = oauth_settings(kommo_sandbox)
    assert store_authorization(settings, AUTHORIZATION_CODE) == 1
    assert client_for(settings).lead(27754599).id == 27754599
    with pytest.raises(KommoReauthorizationRequired):
        store_authorization(settings, "expired-code")


def test_a_refused_patch_surfaces_kommos_validation_errors(aws: Any, kommo_sandbox: Any) -> None:
    from sales_assistant.adapters.kommo import KommoValidationError

    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    with pytest.raises(KommoValidationError) as raised:
        client.patch_lead(27754599, text_fields={123: "campo que não existe"})
    [request_errors] = raised.value.validation_errors
    assert request_errors["errors"][0]["path"] == "custom_fields_values.0.field_id"
    assert len(kommo_sandbox.calls("PATCH", "/api/v4/leads/27754599")) == 1  # a 400 is never retried


def test_a_salesperson_is_read_by_id_and_an_unknown_one_is_not_found(aws: Any, kommo_sandbox: Any) -> None:
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    ana = client.user(8401234)
    assert (ana.name, ana.rights.is_active) == ("Ana Souza", True)
    with pytest.raises(KommoNotFound):
        client.user(8409999)


def test_notes_are_written_as_common_or_as_collapsible_assistant_events(aws: Any, kommo_sandbox: Any) -> None:
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    client.add_note(27754599, "Cliente pediu retorno amanhã")
    client.add_note(27754599, "Bot pausado por Ana Souza", service=True)
    assert [(note["note_type"], note["params"]) for note in kommo_sandbox.notes] == [
        ("common", {"text": "Cliente pediu retorno amanhã"}),
        ("extended_service_message", {"service": "Assistente", "text": "Bot pausado por Ana Souza"}),
    ]


def test_the_account_webhooks_show_when_kommo_disabled_ours(aws: Any, kommo_sandbox: Any) -> None:
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    [hook] = client.webhooks()
    assert hook["disabled"] is False and "add_message" in hook["settings"]

    kommo_sandbox.webhooks[0]["disabled"] = True  # more than 100 bad answers in 2 hours
    assert client.webhooks()[0]["disabled"] is True

    kommo_sandbox.webhooks.clear()  # none registered: Kommo answers 204
    assert client.webhooks() == []


def test_chat_messages_since_a_time_are_listed_across_pages(
    aws: Any, kommo_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sales_assistant.adapters.kommo import client as client_module

    monkeypatch.setattr(client_module, "PAGE_LIMIT", 2)
    client = client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))
    assert client.events_since(1_795_521_600) == []  # nothing yet: Kommo answers 204

    for minute, message_id in enumerate(["a0ce13c7-1", "a0ce13c7-2", "a0ce13c7-3", "a0ce13c7-4"]):
        kommo_sandbox.add_chat_message(93589657, message_id, created_at=1_795_521_600 + 60 * minute)
    events = client.events_since(1_795_521_660)
    assert [event.message_id for event in events] == ["a0ce13c7-2", "a0ce13c7-3", "a0ce13c7-4"]
    assert {(event.type, event.entity_type, event.entity_id) for event in events} == {
        ("incoming_chat_message", "contact", 93589657)
    }
    requests = kommo_sandbox.calls("GET", "/api/v4/events")
    assert requests[1].query["filter[type][]"] == "incoming_chat_message"
    assert [r.status for r in requests[1:]] == [200, 200]  # two pages, the second one not full


class KommoPage:
    """One page of a Kommo list, as `requests` returns it."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.status_code = 200
        self._payload = payload
        self.content = json.dumps(payload).encode()
        self.headers: dict[str, str] = {}

    def json(self) -> dict[str, Any]:
        return self._payload


class NextLinkElsewhere:
    """A session whose first page of users links its next page to `next_href`; it records every request."""

    def __init__(self, next_href: str) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._next = next_href

    def request(self, method: str, url: str, **kwargs: Any) -> KommoPage:
        self.calls.append((url, kwargs.get("headers") or {}))
        if len(self.calls) == 1:
            return KommoPage({"_embedded": {"users": []}, "_links": {"next": {"href": self._next}}})
        return KommoPage({"_embedded": {"users": []}})


class AccessToken:
    def access_token(self) -> str:
        return "KOMMO-ACCESS-TOKEN"

    def after_unauthorized(self, rejected: str) -> str:
        return rejected

    def refresh_ahead(self) -> bool:
        return False


@pytest.mark.parametrize(
    "href",
    [
        "https://attacker.example/api/v4/users?page=2",
        "http://acme.kommo.com/api/v4/users?page=2",
        "https://acme.kommo.com:8443/api/v4/users?page=2",
        "//attacker.example/api/v4/users?page=2",
    ],
)
def test_kommo_pagination_never_sends_the_bearer_token_off_the_kommo_origin(href: str) -> None:
    """A next-page link to another host, scheme or port ends the listing: the token goes to Kommo only."""
    session = NextLinkElsewhere(href)
    client = KommoClient("https://acme.kommo.com", AccessToken(), NoLimit(), session=session, sleep=lambda _: None)  # type: ignore[arg-type]
    list(client.collection("/api/v4/users", "users"))
    leaked = [url for url, headers in session.calls if not url.startswith("https://acme.kommo.com/")]
    assert leaked == [], f"bearer token sent to {leaked} with {session.calls[-1][1].get('Authorization')!r}"
    assert len(session.calls) == 1


@pytest.mark.parametrize("href", ["https://acme.kommo.com/api/v4/users?page=2", "/api/v4/users?page=2"])
def test_kommo_pagination_follows_next_links_on_the_accounts_origin(href: str) -> None:
    session = NextLinkElsewhere(href)
    client = KommoClient("https://acme.kommo.com", AccessToken(), NoLimit(), session=session, sleep=lambda _: None)  # type: ignore[arg-type]
    list(client.collection("/api/v4/users", "users"))
    assert [url for url, _ in session.calls] == [
        "https://acme.kommo.com/api/v4/users",
        "https://acme.kommo.com/api/v4/users?page=2",
    ]
