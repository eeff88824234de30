"""The one delivery path as pure logic: a Salesbot run is never posted twice, its echo confirms it, a
salesperson is asked when no echo comes, and a job that lost the conversation sends nothing."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal

import pytest

from sales_assistant.adapters.kommo.errors import KommoUnavailable, KommoValidationError
from sales_assistant.adapters.retry import retry_delay
from sales_assistant.services.delivery import AwaitingConfirmation, Delivery, DeliveryConfig, DeliveryRecord, Outgoing
from sales_assistant.services.echoes import sent_message_echo_keys
from sales_assistant.services.leases import Lease, LeaseLost
from sales_assistant.texts import Texts

REPLY = Outgoing("batch-1", "lead:27754599", 27754599, 93589657, 8401234, "Olá, Mariana! Posso ajudar?")


class Kommo:
    def __init__(self) -> None:
        self.patches: list[dict[int, str]] = []
        self.runs = 0
        self.run_errors: list[Exception] = []

    def patch_lead(self, lead_id: int, *, text_fields: dict[int, str] | None = None, **_: Any) -> None:
        self.patches.append(text_fields or {})

    def run_salesbot(self, bot_id: int, lead_id: int) -> None:
        self.runs += 1
        if self.run_errors:
            raise self.run_errors.pop(0)


class Echoes:
    def __init__(self) -> None:
        self.remembered: set[str] = set()
        self.came_back: set[str] = set()

    def remember(self, keys: Iterable[str]) -> None:
        self.remembered |= set(keys)
        self.came_back -= set(keys)

    def known(self, keys: Iterable[str]) -> set[str]:
        return self.remembered & set(keys)

    def mark_seen(self, keys: Iterable[str]) -> None:
        self.came_back |= set(keys)

    def seen(self, key: str) -> bool:
        return key in self.came_back


class Log:
    def __init__(self) -> None:
        self.records: dict[str, DeliveryRecord] = {}

    def get(self, key: str) -> DeliveryRecord | None:
        return self.records.get(key)

    def start_run(self, key: str, at: int) -> bool:
        if key in self.records:
            return False
        self.records[key] = DeliveryRecord(state="run_attempted", at=at)
        return True

    def forget_run(self, key: str) -> None:
        self.records.pop(key, None)

    def finish(self, key: str, state: Literal["delivered", "unconfirmed"], at: int) -> None:
        self.records[key] = DeliveryRecord(state=state, at=at)


class Tasks:
    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}

    def note(self, key: str, lead_id: int, text: str, *, service: bool = False) -> None:
        raise AssertionError("delivery writes no note")

    def task(self, key: str, lead_id: int, responsible_user_id: int, text: str) -> None:
        self.tasks.setdefault(key, text)


class LeaseStore:
    def __init__(self) -> None:
        self.owner = "job-1"
        self.marked: list[str] = []

    def reclaim(self, conversation_id: str, owner: str, lease_until_ms: int) -> object | None:
        return object() if owner == self.owner else None

    def mark_sending(self, conversation_id: str, owner: str, message_ids: list[str], lease_until_ms: int) -> bool:
        self.marked = message_ids
        return owner == self.owner


class World:
    def __init__(self) -> None:
        self.now = 1_795_500_000.0
        self.kommo, self.echoes, self.log, self.notes = Kommo(), Echoes(), Log(), Tasks()
        self.store = LeaseStore()
        self.delivery = Delivery(
            kommo=self.kommo,
            echoes=self.echoes,
            log=self.log,
            notes=self.notes,
            texts=Texts(),
            config=DeliveryConfig(salesbot_id=101, reply_field_id=900001, confirm_seconds=120),
            clock=lambda: self.now,
        )
        self.lease = Lease(self.store, "lead:27754599", "job-1", lambda: 60.0, lambda: self.now)

    def send(self) -> int:
        return self.delivery.send(REPLY, self.lease, ["msg-1"])

    def kommo_shows_the_bots_message(self) -> None:
        self.echoes.mark_seen(sent_message_echo_keys(REPLY.conversation_id, REPLY.contact_id, REPLY.text)[1:])


@pytest.fixture
def world() -> World:
    return World()


def test_a_reply_is_written_to_the_field_run_once_and_remembered_as_an_echo(world: World) -> None:
    assert world.send() == int(world.now)
    assert world.kommo.patches == [{900001: REPLY.text}] and world.kommo.runs == 1
    assert world.echoes.remembered == set(sent_message_echo_keys("lead:27754599", 93589657, REPLY.text))
    assert world.store.marked == ["msg-1"]


def test_a_delivered_key_is_not_sent_again(world: World) -> None:
    world.send()
    world.now += 30
    world.send()
    assert world.kommo.runs == 1 and len(world.kommo.patches) == 1


def test_a_run_that_timed_out_is_never_posted_again_and_its_echo_confirms_it(world: World) -> None:
    world.kommo.run_errors.append(KommoUnavailable("read timeout", kommo_status=0))
    with pytest.raises(KommoUnavailable):
        world.send()
    world.now += 10
    with pytest.raises(AwaitingConfirmation):
        world.send()  # no echo yet: wait
    world.kommo_shows_the_bots_message()
    world.now += 10
    assert world.send() == int(world.now) - 20  # delivered when it was run
    assert world.kommo.runs == 1
    assert world.notes.tasks == {}


def test_an_ambiguous_run_is_not_confirmed_by_the_echo_of_an_earlier_identical_message(aws: Any) -> None:
    """The fixed fallback text goes to the same chat twice (n8n down twice in 3 h). The first run is
    delivered and its echo comes back; the second run times out (outcome unknown) and no echo of it ever
    comes: the earlier echo (kept ECHO_TTL_SECONDS) must not confirm it, or the client gets nothing and the
    salesperson no task."""
    from sales_assistant.adapters.echo_memory import DynamoEchoMemory
    from sales_assistant.config import get_settings

    settings = get_settings()
    echoes = DynamoEchoMemory(settings.kommo_table, settings.echo_ttl_seconds)
    kommo, log, tasks = Kommo(), Log(), Tasks()
    now = [time.time()]
    delivery = Delivery(
        kommo=kommo,
        echoes=echoes,
        log=log,
        notes=tasks,
        texts=Texts(),
        config=DeliveryConfig(salesbot_id=101, reply_field_id=900001, confirm_seconds=120),
        clock=lambda: now[0],
    )
    lease = Lease(LeaseStore(), "lead:27754599", "job-1", lambda: 60.0, lambda: now[0])
    fallback = Texts().render("fallback_reply")

    first = Outgoing("batch-1", "lead:27754599", 27754599, 93589657, 8401234, fallback)
    delivery.send(first, lease, ["m-1"])
    echoes.mark_seen(echoes.known(first.echo_keys))  # intake: Kommo reported the bot's message

    second = Outgoing("batch-2", "lead:27754599", 27754599, 93589657, 8401234, fallback)
    kommo.run_errors.append(KommoUnavailable("read timeout", kommo_status=0))
    with pytest.raises(KommoUnavailable):
        delivery.send(second, lease, ["m-2"])
    now[0] += 10  # the retry, 10 s later; Kommo never showed a second message
    with pytest.raises(AwaitingConfirmation):
        delivery.send(second, lease, ["m-2"])


def test_a_run_with_a_5xx_and_no_echo_becomes_one_task_for_the_salesperson_never_a_second_run(world: World) -> None:
    world.kommo.run_errors.append(KommoUnavailable("503", kommo_status=503))
    with pytest.raises(KommoUnavailable):
        world.send()
    world.now += 121
    world.send()
    world.now += 60
    world.send()
    assert world.kommo.runs == 1
    [task] = world.notes.tasks.values()
    assert REPLY.text in task and "confirmar" in task
    assert world.log.records["batch-1"].state == "unconfirmed"


@pytest.mark.parametrize("status", [400, 429])
def test_a_run_kommo_refused_is_posted_again_on_the_retry(world: World, status: int) -> None:
    world.kommo.run_errors.append(KommoValidationError("refused", kommo_status=status))
    with pytest.raises(KommoValidationError):
        world.send()
    world.send()
    assert world.kommo.runs == 2 and world.log.records["batch-1"].state == "delivered"


def test_a_job_that_lost_the_conversation_sends_nothing(world: World) -> None:
    world.store.owner = "job-2"  # another job took the conversation over
    with pytest.raises(LeaseLost):
        world.send()
    assert world.kommo.patches == [] and world.kommo.runs == 0


def test_a_lease_outlives_the_invocation_and_renewal_fails_once_taken_over(world: World) -> None:
    assert world.lease.until_ms() == int((world.now + 60) * 1000)
    world.lease.renew()
    world.store.owner = "job-2"
    with pytest.raises(LeaseLost):
        world.lease.renew()


def test_a_failed_message_comes_back_in_seconds_growing_to_fifteen_minutes() -> None:
    assert [retry_delay(count) for count in (1, 2, 3, 4, 5, 8, 12)] == [10, 20, 40, 80, 160, 900, 900]
