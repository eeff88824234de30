"""Planted faults: for each invariant, a fault-injecting double of one adapter that breaks it, so a test
can show the simulator reports the violation (a checker that cannot fail is caught). `planted("", ...)`
plants nothing; tests/sim/test_invariants_catch.py runs each plant with a step list that meets it.

To add one: a function `(stack, world)` that patches one adapter or service collaborator through
`stack` (restored when the run ends), with a one-line docstring saying what it breaks, and a line in
`PLANTS`. Each plant imports what it patches inside itself: a service module imported before the world's
virtual clock is installed would keep the real `time.time` as its default clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest.mock import patch


def always(value: Any) -> Callable[..., Any]:
    """A double of a function or method that ignores its arguments and answers `value`."""
    return lambda *args, **kwargs: value


def talks_over_human(stack: ExitStack, world: Any) -> None:
    """1. The takeover check always says the bot is active: the assistant answers over a salesperson."""
    from sales_assistant.services.takeover import TakeoverService

    stack.enter_context(patch.object(TakeoverService, "is_paused", always(False)))


def drops_answers(stack: ExitStack, world: Any) -> None:
    """2. Flush jobs are never queued: a client's messages are buffered and never answered."""
    from sales_assistant.adapters.queues import SqsFlushScheduler

    stack.enter_context(patch.object(SqsFlushScheduler, "flush_later", always(None)))


def first_message_any_time(stack: ExitStack, world: Any) -> None:
    """3. The working-hours check always finds the salesperson at work: first messages go out at night."""
    from sales_assistant.services import proactive

    stack.enter_context(patch.object(proactive, "next_opening", always(None)))


def free_text_outside_window(stack: ExitStack, world: Any) -> None:
    """4. The 24 h window always looks open: free text goes to a client who last wrote days ago."""
    from sales_assistant.models.conversation import Conversation

    stack.enter_context(patch.object(Conversation, "window_open", always(True)))


def double_booking(stack: ExitStack, world: Any) -> None:
    """5. The agenda books without locking the salesperson's time: every slot is granted."""
    from sales_assistant.adapters.agenda import DynamoAgenda

    stack.enter_context(patch.object(DynamoAgenda, "_occupy", lambda *args, **kwargs: []))  # a new list: book appends


def stale_belief(stack: ExitStack, world: Any) -> None:
    """6. Lead events never mark the kept lead stale: the service keeps believing an old status."""
    from sales_assistant.adapters.conversations import DynamoConversationRepository

    stack.enter_context(patch.object(DynamoConversationRepository, "forget_kommo", always(None)))


def no_rate_limit(stack: ExitStack, world: Any) -> None:
    """7. The shared Kommo rate limiter never waits: a burst reaches Kommo all in one second."""
    from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter

    stack.enter_context(patch.object(SharedRateLimiter, "acquire", always(None)))


def replay_not_idempotent(stack: ExitStack, world: Any) -> None:
    """8. The idempotency store never finds an earlier run: every once-only effect runs again."""
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    stack.enter_context(patch.object(BasePersistenceLayer, "save_inprogress", always(None)))


def poison(stack: ExitStack, world: Any) -> None:
    """9. The bot-state table refuses every write: a salesperson's command fails until it is dead-lettered."""
    from sales_assistant.adapters.bot_state import DynamoBotStateRepository

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("planted: the bot-state table refuses every write")

    stack.enter_context(patch.object(DynamoBotStateRepository, "save", refuse))


def follows_up_over_a_reply(stack: ExitStack, world: Any) -> None:
    """10. The follow-up sender ignores the stop: a client's message neither stops the ladder nor counts."""
    from sales_assistant.services import follow_up_messages
    from sales_assistant.services.follow_ups import FollowUpLadders

    stack.enter_context(patch.object(FollowUpLadders, "stop", always(None)))
    stack.enter_context(patch.object(follow_up_messages, "_spoke_since", always(None)))


def ignores_opt_out(stack: ExitStack, world: Any) -> None:
    """11. The consent check always lets the assistant write first: a client who wrote "pare" gets follow-ups."""
    from sales_assistant.services.consent import ConsentService

    stack.enter_context(patch.object(ConsentService, "may_contact", always(True)))


def writes_any_field(stack: ExitStack, world: Any) -> None:
    """12. Qualification ignores QUALIFICATION_FIELDS and the fields' types: whatever n8n names after a lead field
    in Kommo is written, as given."""
    from sales_assistant.models.kommo import FieldValue
    from sales_assistant.services.qualification import CheckedFields, Qualification, _folded

    def check(self: Qualification, given: dict[str, object]) -> CheckedFields:
        named = {_folded(known.name): known.id for known in self._kommo.lead_fields()}
        found = {named[_folded(name)]: value for name, value in given.items() if _folded(name) in named}
        return CheckedFields(values={field_id: [FieldValue(value=value)] for field_id, value in found.items()})

    stack.enter_context(patch.object(Qualification, "check", check))


def closes_deals(stack: ExitStack, world: Any) -> None:
    """13. The move_status allowlist takes won and lost in: n8n closes the lead's deal."""
    from sales_assistant.services.actions import AnswerActions
    from sim.world import LOST, WON

    built = AnswerActions.__init__

    def with_closed(self: AnswerActions, **parts: Any) -> None:
        built(self, **{**parts, "status_ids": frozenset({WON, LOST, *parts.get("status_ids", ())})})

    stack.enter_context(patch.object(AnswerActions, "__init__", with_closed))


def forgets_follow_ups_sent(stack: ExitStack, world: Any) -> None:
    """14. The follow-up table forgets how many follow-ups a lead got: every new ladder goes to its end."""
    from sales_assistant.adapters.follow_ups import DynamoFollowUps

    read = DynamoFollowUps.get

    def forgetful(self: DynamoFollowUps, lead_id: int) -> Any:
        record = read(self, lead_id)
        return record.model_copy(update={"sent_total": 0}) if record else None

    stack.enter_context(patch.object(DynamoFollowUps, "get", forgetful))


PLANTS: dict[str, Callable[[ExitStack, Any], None]] = {
    "talks_over_human": talks_over_human,
    "drops_answers": drops_answers,
    "first_message_any_time": first_message_any_time,
    "free_text_outside_window": free_text_outside_window,
    "double_booking": double_booking,
    "stale_belief": stale_belief,
    "no_rate_limit": no_rate_limit,
    "replay_not_idempotent": replay_not_idempotent,
    "poison": poison,
    "follows_up_over_a_reply": follows_up_over_a_reply,
    "ignores_opt_out": ignores_opt_out,
    "writes_any_field": writes_any_field,
    "closes_deals": closes_deals,
    "forgets_follow_ups_sent": forgets_follow_ups_sent,
}


@contextmanager
def planted(name: str, world: Any) -> Iterator[None]:
    """Inside the block, the world runs with the named fault (none for "")."""
    with ExitStack() as stack:
        if name:
            PLANTS[name](stack, world)
        yield
