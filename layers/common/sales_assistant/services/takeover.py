"""Human takeover: a salesperson pauses the bot for a contact (/assumir, or just by replying) and
gives the chat back (/liberar, or automatically after an idle time). The bot never talks over a human."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from sales_assistant import timing
from sales_assistant.models.bot_state import RECENT_CHANGES, BotState, BotStatus, ChangeReason
from sales_assistant.models.kommo_webhook import ChatMessage, LeadNote
from sales_assistant.observability import count, logger
from sales_assistant.services.commands import Command, parse_command, resolve_target
from sales_assistant.services.ports.flows import FollowUpLadder
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.storage import BotStates, StateConflict
from sales_assistant.texts import Texts

if TYPE_CHECKING:  # built on the first /faltou only: a cold start does not load the scheduling services
    from sales_assistant.services.no_show import NoShows

MAX_WRITE_ATTEMPTS = 5
CHANGED, REPEATED, UNCHANGED = "changed", "repeated", "unchanged"
_HOW_PAUSED = {
    ChangeReason.COMMAND: "how_command_pause",
    ChangeReason.MANUAL_REPLY: "how_manual_reply",
    ChangeReason.AI_HANDOVER: "how_ai_handover",
    ChangeReason.ADMIN_API: "how_admin_api",
}
_HOW_RESUMED = {ChangeReason.COMMAND: "how_command_resume", ChangeReason.ADMIN_API: "how_admin_api"}
UNNAMED = "vendedor(a)"  # a Kommo user whose name Kommo did not give


@dataclass(frozen=True)
class Actor:
    """Who changes the state: a Kommo user (id and name), the AI or an admin."""

    user_id: int | None
    name: str


class ConcurrentChanges(Exception):
    """The state kept changing under us; the caller retries later."""


class TakeoverService:
    """Reads and changes the bot state of contacts, and tells the salespeople on the lead."""

    def __init__(
        self,
        states: BotStates,
        kommo: KommoLeads,
        notes: LeadNotes,
        texts: Texts,
        *,
        auto_resume_hours: float,
        pause_on_manual_reply: bool,
        follow_ups: FollowUpLadder,
        no_shows: Callable[[], NoShows] | None = None,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._follow_ups = follow_ups
        self._no_shows = no_shows  # None: no scheduling here, /faltou is unknown
        self._states = states
        self._kommo = kommo
        self._notes = notes
        self._texts = texts
        self._auto_resume_seconds = int(auto_resume_hours * 3600)
        self._pause_on_manual_reply = pause_on_manual_reply
        self._clock = clock

    # ------------------------------------------------------------------ reading
    def state(self, contact_id: int) -> BotState:
        """The contact's state (active when never changed)."""
        return self._states.get(contact_id) or BotState(contact_id=contact_id)

    def is_paused(self, contact_id: int) -> bool:
        """True while the bot must stay silent for the contact (an overdue resume_at counts as resumed)."""
        return self.state(contact_id).paused_at(self._clock())

    def paused(self) -> list[BotState]:
        """Contacts paused now."""
        now = self._clock()
        return [state for state in self._states.with_status(BotStatus.PAUSED) if state.paused_at(now)]

    # ------------------------------------------------------------------ changing
    def pause(
        self, contact_id: int, actor: Actor, reason: ChangeReason, change_id: str, lead_id: int | None = None
    ) -> BotState:
        """Pause the bot for a contact and note it on the lead (idempotent per change_id)."""
        resume_at = self._resume_at()

        def paused(current: BotState) -> BotState:
            return self._moved(current, BotStatus.PAUSED, actor, reason, resume_at, lead_id)

        state, outcome = self.change(contact_id, change_id, paused)
        self._follow_ups.stop(lead_id or state.lead_id, "takeover")
        if outcome == CHANGED:
            count("BotPaused", reason=reason.value)
        self._note(state, change_id, "note_paused", who=actor.name, how=self._texts.render(_HOW_PAUSED[reason]))
        return state

    def resume(
        self, contact_id: int, actor: Actor, reason: ChangeReason, change_id: str, lead_id: int | None = None
    ) -> BotState:
        """Resume the bot for a contact and note it on the lead (idempotent per change_id); a bot that
        was already active stays as it is and the note says so. The note comes first: while Kommo cannot take
        it, the bot stays paused (and the salesperson's next messages, queued behind the command, keep it so),
        where a pause is applied at once whatever Kommo does: silence never waits on Kommo, speech does."""

        def resumed(current: BotState) -> BotState | None:
            if current.status == BotStatus.ACTIVE:
                return None
            return self._moved(current, BotStatus.ACTIVE, actor, reason, None, lead_id)

        seen = self.state(contact_id)
        if seen.status == BotStatus.ACTIVE and not seen.applied(change_id):
            self._note_on(lead_id or seen.lead_id, change_id, "note_already_active")
            return seen
        how = self._texts.render(_HOW_RESUMED.get(reason, "how_admin_api"))
        self._note_on(lead_id or seen.lead_id, change_id, "note_resumed", who=actor.name, how=how)
        state, outcome = self.change(contact_id, change_id, resumed)
        if outcome == CHANGED:
            count("BotResumed", reason=reason.value)
        return state

    def resume_overdue(self) -> list[int]:
        """Resume every contact whose resume_at has passed (the schedule's sweep); returns their ids."""
        now = self._clock()
        hours = f"{round(self._auto_resume_seconds / 3600, 1):g}"
        resumed = []
        for seen in self._states.with_status(BotStatus.PAUSED):
            if seen.resume_at is None or seen.resume_at > now:
                continue
            change_id = f"auto-resume:{seen.contact_id}:{seen.resume_at}"
            state, outcome = self.change(
                seen.contact_id, change_id, partial(self._still_overdue_resumed, seen.resume_at)
            )
            if outcome == UNCHANGED:
                continue
            if outcome == CHANGED:
                count("BotResumed", reason=ChangeReason.AUTO_RESUME.value)
                resumed.append(seen.contact_id)
            self._note(state, change_id, "note_auto_resumed", hours=hours)
        return resumed

    # ------------------------------------------------------------------ salesperson messages
    def handle_salesperson_message(self, message: ChatMessage, author: str = "salesperson") -> str:
        """Apply a command typed by a salesperson, or pause the bot on a manual reply; returns the outcome.
        A reply from the WhatsApp Business phone app (`author` phone_app) pauses too but is never a command:
        only Kommo users give commands."""
        chat_lead = message.lead_id
        self._follow_ups.stop(chat_lead, "salesperson_message")
        if author == "phone_app":
            return self._manual_reply(message, Actor(None, self._texts.render("phone_app_author")), chat_lead)
        actor = Actor(message.author.user_id, message.author.name or UNNAMED)
        command = parse_command(message.text)
        if command is None:
            return self._manual_reply(message, actor, chat_lead)
        return self._command(command, actor, message.id, chat_lead, message.contact_id)

    def handle_salesperson_note(self, note: LeadNote, author_name: str) -> str:
        """Apply a command written in a note on a lead (without an id: about that lead); other notes are ignored."""
        command = parse_command(note.text)
        if command is None:
            return "not_a_command"
        command = replace(command, target=command.target or note.lead_id)
        return self._command(command, Actor(note.created_by, author_name or UNNAMED), f"note:{note.id}", note.lead_id)

    def _command(self, command: Command, actor: Actor, key: str, lead: int | None, contact: int | None = None) -> str:
        """Apply a command given on a lead (in its chat, whose contact it is about without an id, or in a note)."""
        if not command.known or (command.name == "faltou" and self._no_shows is None):
            self._note_on(lead, key, "note_unknown_command", command=f"/{command.name}")
            return "unknown_command"
        if command.bad_target:
            self._note_on(lead, key, "note_unknown_id", id=command.bad_target)
            return "unknown_id"
        target = resolve_target(self._kommo, command.target, contact, lead)
        if target is None:
            self._note_on(lead, key, "note_unknown_id", id=command.target)
            return "unknown_id"
        contact_id, lead_id = target
        if command.name == "faltou" and self._no_shows is not None:
            return self._no_shows().mark(lead_id, actor.name, key)
        if command.name == "assumir":
            self.pause(contact_id, actor, ChangeReason.COMMAND, key, lead_id)
            return "paused"
        if command.name == "liberar":
            self.resume(contact_id, actor, ChangeReason.COMMAND, key, lead_id)
            return "resumed"
        self._note_on(lead_id, key, "note_status", contact=contact_id, status=self.describe(self.state(contact_id)))
        return "status"

    def describe(self, state: BotState) -> str:
        """The state in the salespeople's words."""
        if not state.paused_at(self._clock()):
            return self._texts.render("status_active")
        since = state.since[:16].replace("T", " ")
        return self._texts.render("status_paused", who=state.by_name or "-", since=since)

    def _manual_reply(self, message: ChatMessage, actor: Actor, chat_lead: int | None) -> str:
        if not self._pause_on_manual_reply:
            return "manual_reply_ignored"
        if self.is_paused(message.contact_id):

            def renewed(current: BotState) -> BotState | None:
                # The salesperson is still at it, or answers a handover (escalated to the manager or not): the
                # auto-resume pushed back, no escalation.
                resume_at = self._resume_at()
                if not current.paused_at(self._clock()) or (resume_at is None and current.escalate_at is None):
                    return None
                return current.model_copy(update={"resume_at": resume_at, "escalate_at": None})

            self.change(message.contact_id, message.id, renewed)
            return "still_paused"
        self.pause(message.contact_id, actor, ChangeReason.MANUAL_REPLY, message.id, chat_lead)
        return "paused"

    def _still_overdue_resumed(self, seen_resume_at: int, current: BotState) -> BotState | None:
        """Resumed, if this is still the pause the sweep saw overdue (not one renewed meanwhile)."""
        if current.status != BotStatus.PAUSED or current.resume_at != seen_resume_at:
            return None
        return self._moved(current, BotStatus.ACTIVE, Actor(None, "auto"), ChangeReason.AUTO_RESUME, None, None)

    def _resume_at(self) -> int | None:
        """When a pause starting now ends by itself (None: never)."""
        return int(self._clock()) + self._auto_resume_seconds if self._auto_resume_seconds else None

    def _moved(
        self,
        current: BotState,
        status: BotStatus,
        actor: Actor,
        reason: ChangeReason,
        resume_at: int | None,
        lead_id: int | None,
    ) -> BotState:
        """`current` moved to `status` by `actor` (`since` kept when the status stays the same)."""
        since = current.since
        if current.status != status or not since:
            since = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        return current.model_copy(
            update={
                "status": status,
                "by_user_id": actor.user_id,
                "by_name": actor.name,
                "since": since,
                "reason": reason,
                "resume_at": resume_at,
                "escalate_at": None,  # a person paused, gave back or the pause ended: no handover waits
                "lead_id": lead_id or current.lead_id,
            }
        )

    def change(
        self, contact_id: int, change_id: str, transition: Callable[[BotState], BotState | None]
    ) -> tuple[BotState, str]:
        """Apply `transition` to the stored state with optimistic concurrency (re-read on conflict).

        Returns the state and CHANGED, REPEATED (this change_id was applied already, even if other changes
        came after it: a redelivered `/liberar` never undoes a later pause) or UNCHANGED (nothing to do)."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self.state(contact_id)
            if current.applied(change_id):
                return current, REPEATED
            updated = transition(current)
            if updated is None:
                return current, UNCHANGED
            recent = [*current.recent_change_ids, change_id][-RECENT_CHANGES:]
            updated = updated.model_copy(
                update={"last_change_id": change_id, "recent_change_ids": recent, "version": current.version + 1}
            )
            try:
                self._states.save(updated, current.version)
            except StateConflict:
                continue
            logger.info(
                "bot state changed",
                extra={"contact_id": contact_id, "status": updated.status.value, "reason": str(updated.reason)},
            )
            return updated, CHANGED
        raise ConcurrentChanges(f"bot state of contact {contact_id} kept changing")

    def _note(self, state: BotState, change_id: str, text_name: str, **values: object) -> None:
        self._note_on(state.lead_id, change_id, text_name, **values)

    def _note_on(self, lead_id: int | None, key: str, text_name: str, **values: object) -> None:
        if lead_id is None:
            logger.info("no lead to note the bot change on", extra={"text": text_name})
            return
        self._notes.note(f"{text_name}:{key}", lead_id, self._texts.render(text_name, **values))
