"""The one delivery path as pure logic: a Salesbot run is never posted twice, its echo confirms it, a
salesperson is asked when no echo comes, and a job that lost the conversation sends nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sales_assistant.adapters.kommo.errors import KommoUnavailable, KommoValidationError
from sales_assistant.adapters.retry import retry_delay
from sales_assistant.services.delivery import AwaitingConfirmation, Delivery, DeliveryConfig, Outgoing
from sales_assistant.services.echoes import sent_message_echo_keys
from sales_assistant.services.leases import Lease, LeaseLost
from sales_assistant.texts import Texts
from tests.unit.fakes import FakeKommo, InMemoryConversations, InMemoryDeliveryLog, InMemoryEchoMemory

REPLY = Outgoing("batch-1", "lead:27754599", 27754599, 93589657, 8401234, "Olá, Mariana! Posso ajudar?")


class World:
    def __init__(self) -> None:
        self.now = 1_795_500_000.0
        self.kommo, self.echoes, self.log = FakeKommo(), InMemoryEchoMemory(), InMemoryDeliveryLog()
        self.conversations = InMemoryConversations(lambda: self.now)
        self.lease = Lease(self.conversations, "lead:27754599", "job-1", lambda: 60.0, lambda: self.now)
        self.conversations.hand_lease("lead:27754599", "job-1", self.lease.until_ms())
        self.delivery = Delivery(
            kommo=self.kommo,
            echoes=self.echoes,
            log=self.log,
            notes=self.kommo,
            texts=Texts(),
            config=DeliveryConfig(salesbot_id=101, reply_field_id=900001, confirm_seconds=120),
            clock=lambda: self.now,
        )

    def send(self) -> int:
        return self.delivery.send(REPLY, self.lease, ["msg-1"])

    def another_job_takes_the_conversation_over(self) -> None:
        self.conversations.hand_lease("lead:27754599", "job-2", self.lease.until_ms())

    def kommo_shows_the_bots_message(self) -> None:
        self.echoes.mark_seen(sent_message_echo_keys(REPLY.conversation_id, REPLY.contact_id, REPLY.text)[1:])


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    yield world
    assert world.kommo.notes == []  # delivery writes no note


def test_a_reply_is_written_to_the_field_run_once_and_remembered_as_an_echo(world: World) -> None:
    assert world.send() == int(world.now)
    assert world.kommo.patches == [(27754599, {"text_fields": {900001: REPLY.text}})] and len(world.kommo.runs) == 1
    assert world.echoes.remembered == set(sent_message_echo_keys("lead:27754599", 93589657, REPLY.text))
    conversation = world.conversations.get("lead:27754599")
    assert conversation is not None and conversation.answered_ids == ["msg-1"]


def test_a_delivered_key_is_not_sent_again(world: World) -> None:
    world.send()
    world.now += 30
    world.send()
    assert len(world.kommo.runs) == 1 and len(world.kommo.patches) == 1


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
    assert len(world.kommo.runs) == 1
    assert world.kommo.tasks == []


def test_an_ambiguous_run_is_not_confirmed_by_the_echo_of_an_earlier_identical_message(aws: Any) -> None:
    """The fixed fallback text goes to the same chat twice (n8n down twice in 3 h). The first run is
    delivered and its echo comes back; the second run times out (outcome unknown) and no echo of it ever
    comes: the earlier echo (kept ECHO_TTL_SECONDS) must not confirm it, or the client gets nothing and the
    salesperson no task."""
    from sales_assistant.adapters.echo_memory import DynamoEchoMemory
    from sales_assistant.config import get_settings

    settings = get_settings()
    echoes = DynamoEchoMemory(settings.kommo_table, settings.echo_ttl_seconds)
    kommo, log = FakeKommo(), InMemoryDeliveryLog()
    now = [time.time()]
    delivery = Delivery(
        kommo=kommo,
        echoes=echoes,
        log=log,
        notes=kommo,
        texts=Texts(),
        config=DeliveryConfig(salesbot_id=101, reply_field_id=900001, confirm_seconds=120),
        clock=lambda: now[0],
    )
    conversations = InMemoryConversations(lambda: now[0])
    lease = Lease(conversations, "lead:27754599", "job-1", lambda: 60.0, lambda: now[0])
    conversations.hand_lease("lead:27754599", "job-1", lease.until_ms())
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
    assert kommo.notes == [] and kommo.tasks == []


def test_a_run_with_a_5xx_and_no_echo_becomes_one_task_for_the_salesperson_never_a_second_run(world: World) -> None:
    world.kommo.run_errors.append(KommoUnavailable("503", kommo_status=503))
    with pytest.raises(KommoUnavailable):
        world.send()
    world.now += 121
    world.send()
    world.now += 60
    world.send()
    assert len(world.kommo.runs) == 1
    [task] = world.kommo.tasks
    assert REPLY.text in task.text and "confirmar" in task.text
    assert world.log.records["batch-1"].state == "unconfirmed"


@pytest.mark.parametrize("status", [400, 429])
def test_a_run_kommo_refused_is_posted_again_on_the_retry(world: World, status: int) -> None:
    world.kommo.run_errors.append(KommoValidationError("refused", kommo_status=status))
    with pytest.raises(KommoValidationError):
        world.send()
    world.send()
    assert len(world.kommo.runs) == 2 and world.log.records["batch-1"].state == "delivered"


def test_a_job_that_lost_the_conversation_sends_nothing(world: World) -> None:
    world.another_job_takes_the_conversation_over()
    with pytest.raises(LeaseLost):
        world.send()
    assert world.kommo.patches == [] and world.kommo.runs == []


def test_a_lease_outlives_the_invocation_and_renewal_fails_once_taken_over(world: World) -> None:
    assert world.lease.until_ms() == int((world.now + 60) * 1000)
    world.lease.renew()
    world.another_job_takes_the_conversation_over()
    with pytest.raises(LeaseLost):
        world.lease.renew()


def test_a_failed_message_comes_back_in_seconds_growing_to_fifteen_minutes() -> None:
    assert [retry_delay(count) for count in (1, 2, 3, 4, 5, 8, 12)] == [10, 20, 40, 80, 160, 900, 900]
