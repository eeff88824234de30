"""Kommo's echoes of the service's own changes: what Kommo posts back a moment after the service changed
something (a lead's status or responsible salesperson; a Salesbot's message appearing in the chat), as
it does for anyone's change. The service must recognise its own and not act on them twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from local.kommo_webhooks import lead_change_body

ECHO_DELAY_SECONDS = 2.0  # Kommo posts its webhooks a moment after the change
BOT_AUTHOR = {"author[type]": "internal", "author[user_id]": "0"}  # a Salesbot's message: no Kommo user behind it


@dataclass
class KommoEchoes:
    """Webhook bodies Kommo will post, each at its time (unix s)."""

    due: list[tuple[float, str]] = field(default_factory=list)

    def after_call(self, kommo: Any, method: str, target: str, before: dict[int, tuple[int, int]], runs: int) -> None:
        """Queue the webhooks a Kommo call that took effect makes Kommo post (`before`: each lead's status
        and responsible before the call; `runs`: how many Salesbot runs Kommo had)."""
        import time

        path, at = urlsplit(target).path, time.time() + ECHO_DELAY_SECONDS
        if method == "PATCH" and path.startswith("/api/v4/leads"):
            for lead_id, (status, responsible) in before.items():
                lead = kommo.leads[lead_id]
                if lead["status_id"] != status:
                    self.due.append((at, lead_change_body("status", lead, old_status_id=status)))
                if lead["responsible_user_id"] != responsible:
                    self.due.append((at, lead_change_body("responsible", lead, old_responsible_user_id=responsible)))
        for run in kommo.salesbot_runs[runs:]:  # the runs Kommo started, whatever it answered
            self.due.append((at, _bot_message(kommo, int(run["entity_id"]))))

    def take_due(self, now: float) -> list[str]:
        """The webhooks due by `now`, in order (taken off the list)."""
        ready = [body for at, body in self.due if at <= now]
        self.due = [(at, body) for at, body in self.due if at > now]
        return ready

    def next_at(self) -> float | None:
        return min((at for at, _ in self.due), default=None)


def lead_states(kommo: Any) -> dict[int, tuple[int, int]]:
    """Each lead's status and responsible salesperson now."""
    return {lead_id: (lead["status_id"], lead["responsible_user_id"]) for lead_id, lead in kommo.leads.items()}


def _bot_message(kommo: Any, lead_id: int) -> str:
    from local.kommo_webhooks import chat_body

    lead = kommo.leads[lead_id]
    said = [entry for entry in kommo.chat if entry["lead_id"] == lead_id and entry["from"] == "assistant"]
    contact = lead["_embedded"]["contacts"][0]["id"]
    text = said[-1]["text"] if said else ""
    return chat_body(f"echo-{lead_id}-{len(said)}", text, "outgoing", BOT_AUTHOR, lead=lead_id, contact=contact)
