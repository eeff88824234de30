"""Human takeover: a salesperson pauses the bot for a contact (/assumir, or just by replying) and
gives the chat back (/liberar, or automatically after an idle time). The bot never talks over a human."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sales_assistant.errors import NotFound
from sales_assistant.models.bot_state import BotState, BotStatus, ChangeReason
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.observability import count, logger
from sales_assistant.services.commands import parse_command
from sales_assistant.services.ports import BotStateRepository, KommoPort, LeadNotes, StateConflict
from sales_assistant.texts import Texts

MAX_WRITE_ATTEMPTS = 5
_HOW_PAUSED = {
    ChangeReason.COMMAND: "how_command_pause",
    ChangeReason.MANUAL_REPLY: "how_manual_reply",
    ChangeReason.AI_HANDOVER: "how_ai_handover",
    ChangeReason.ADMIN_API: "how_admin_api",
}
_HOW_RESUMED = {ChangeReason.COMMAND: "how_command_resume", ChangeReason.ADMIN_API: "how_admin_api"}


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
        states: BotStateRepository,
        kommo: KommoPort,
        notes: LeadNotes,
        texts: Texts,
        *,
        auto_resume_hours: float,
        pause_on_manual_reply: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
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
        resume_at = int(self._clock()) + self._auto_resume_seconds if self._auto_resume_seconds else None
        state, changed = self._change(contact_id, change_id, BotStatus.PAUSED, actor, reason, resume_at, lead_id)
        if changed:
            count("BotPaused", reason=reason.value)
        self._note(state, change_id, "note_paused", who=actor.name, how=self._texts.render(_HOW_PAUSED[reason]))
        return state

    def resume(
        self, contact_id: int, actor: Actor, reason: ChangeReason, change_id: str, lead_id: int | None = None
    ) -> BotState:
        """Resume the bot for a contact and note it on the lead (idempotent per change_id)."""
        state, changed = self._change(contact_id, change_id, BotStatus.ACTIVE, actor, reason, None, lead_id)
        if changed:
            count("BotResumed", reason=reason.value)
        how = self._texts.render(_HOW_RESUMED.get(reason, "how_admin_api"))
        self._note(state, change_id, "note_resumed", who=actor.name, how=how)
        return state

    def resume_overdue(self) -> list[int]:
        """Resume every contact whose resume_at has passed (the schedule's sweep); returns their ids."""
        now = self._clock()
        resumed = []
        for state in self._states.with_status(BotStatus.PAUSED):
            if state.resume_at is None or state.resume_at > now:
                continue
            change_id = f"auto-resume:{state.contact_id}:{state.resume_at}"
            after, changed = self._change(
                state.contact_id, change_id, BotStatus.ACTIVE, Actor(None, "auto"), ChangeReason.AUTO_RESUME, None, None
            )
            if changed:
                count("BotResumed", reason=ChangeReason.AUTO_RESUME.value)
                resumed.append(state.contact_id)
            hours = round(self._auto_resume_seconds / 3600, 1) if self._auto_resume_seconds else 0
            self._note(after, change_id, "note_auto_resumed", hours=f"{hours:g}")
        return resumed

    # ------------------------------------------------------------------ salesperson messages
    def handle_salesperson_message(self, message: ChatMessage) -> str:
        """Apply a command typed by a salesperson, or pause the bot on a manual reply; returns the outcome."""
        chat_lead = message.entity_id if message.entity_type == "lead" else None
        actor = Actor(message.author.user_id, message.author.name or "vendedor(a)")
        command = parse_command(message.text)
        if command is None:
            return self._manual_reply(message, actor, chat_lead)
        if not command.known:
            self._note_on(chat_lead, message.id, "note_unknown_command", command=f"/{command.name}")
            return "unknown_command"
        if command.bad_target:
            self._note_on(chat_lead, message.id, "note_unknown_id", id=command.bad_target)
            return "unknown_id"
        target = self._resolve(command.target, message.contact_id, chat_lead)
        if target is None:
            self._note_on(chat_lead, message.id, "note_unknown_id", id=command.target)
            return "unknown_id"
        contact_id, lead_id = target
        if command.name == "assumir":
            self.pause(contact_id, actor, ChangeReason.COMMAND, message.id, lead_id)
            return "paused"
        if command.name == "liberar":
            self.resume(contact_id, actor, ChangeReason.COMMAND, message.id, lead_id)
            return "resumed"
        self._note_on(
            lead_id, message.id, "note_status", contact=contact_id, status=self.describe(self.state(contact_id))
        )
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
            state = self.state(message.contact_id)
            if state.resume_at is not None:  # the salesperson is still at it: push the auto-resume back
                new_resume = int(self._clock()) + self._auto_resume_seconds
                self._change(
                    message.contact_id,
                    message.id,
                    BotStatus.PAUSED,
                    Actor(state.by_user_id, state.by_name),
                    state.reason or ChangeReason.MANUAL_REPLY,
                    new_resume,
                    state.lead_id,
                )
            return "still_paused"
        self.pause(message.contact_id, actor, ChangeReason.MANUAL_REPLY, message.id, chat_lead)
        return "paused"

    def _resolve(self, target: int | None, chat_contact: int, chat_lead: int | None) -> tuple[int, int | None] | None:
        """(contact, lead for notes) of a command's id: a lead id resolves to its main contact, else a
        contact id; None when neither exists. Without id: the chat's contact."""
        if target is None:
            return chat_contact, chat_lead
        try:
            lead = self._kommo.lead(target)
        except NotFound:
            lead = None
        if lead is not None and lead.main_contact_id is not None:
            return lead.main_contact_id, lead.id
        try:
            self._kommo.contact(target)
        except NotFound:
            return None
        return target, chat_lead

    def _change(
        self,
        contact_id: int,
        change_id: str,
        status: BotStatus,
        actor: Actor,
        reason: ChangeReason,
        resume_at: int | None,
        lead_id: int | None,
    ) -> tuple[BotState, bool]:
        """Write the new state with optimistic concurrency; (state, whether it changed)."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self.state(contact_id)
            if current.last_change_id == change_id:
                return current, False  # this very change was applied already (a redelivery)
            if current.status == status and status == BotStatus.ACTIVE:
                return current, False
            updated = current.model_copy(
                update={
                    "status": status,
                    "by_user_id": actor.user_id,
                    "by_name": actor.name,
                    "since": datetime.now(UTC).isoformat(timespec="seconds")
                    if current.status != status
                    else current.since,
                    "reason": reason,
                    "resume_at": resume_at,
                    "lead_id": lead_id or current.lead_id,
                    "last_change_id": change_id,
                    "version": current.version + 1,
                }
            )
            try:
                self._states.save(updated, current.version)
            except StateConflict:
                continue
            logger.info(
                "bot state changed", extra={"contact_id": contact_id, "status": status.value, "reason": reason.value}
            )
            return updated, current.status != status
        raise ConcurrentChanges(f"bot state of contact {contact_id} kept changing")

    def _note(self, state: BotState, change_id: str, text_name: str, **values: object) -> None:
        self._note_on(state.lead_id, change_id, text_name, **values)

    def _note_on(self, lead_id: int | None, key: str, text_name: str, **values: object) -> None:
        if lead_id is None:
            logger.info("no lead to note the bot change on", extra={"text": text_name})
            return
        self._notes.note(f"{text_name}:{key}", lead_id, self._texts.render(text_name, **values))
