"""The demo: `python -m local.demo` (the README's `make demo`) drives a running `make run` through five
scenarios, Kommo's side played by the sandbox (a lead arrives, the client writes in the chat, the salesperson
gives the bot commands in notes on the lead: the sandbox posts Kommo's webhooks to the service), and prints
each conversation as the client and the salesperson see it, with the notes and tasks on the lead. Exit status 0
when all five succeed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from local.defaults import LOCAL_SECRETS
from local.kommo_seed import CREDIT_FIELD_ID, SALESPEOPLE

SALESPERSON_ID, SALESPERSON_NAME, _ = SALESPEOPLE[0]
MEETING_TASK_TYPE = 2
QUIET_SECONDS = 8  # longer than the quiet window plus a flush: time enough for an answer that must not come
ANSWER_SECONDS = 45
FOLLOW_UP_SECONDS = 90  # the ladder's 20 s, then the sweep, the queue and n8n


class ScenarioFailed(Exception):
    """A scenario did not end as it should; the message says what was missing."""


@dataclass
class Demo:
    """A lead's story told through the sandbox and the service; `shown` counts what was printed already."""

    service: str
    kommo: str
    say: Callable[[str], None] = print
    lead_id: int = 0
    contact_id: int = 0
    shown: dict[str, int] = field(default_factory=lambda: {"chat": 0, "notes": 0, "tasks": 0})

    # ------------------------------------------------------------------ the scenarios
    def proactive(self) -> None:
        """A lead fills the site's form: the salesperson's assistant writes first and notes it."""
        self._api("POST", "/vendors/sync")  # the schedule's job: the salespeople are known
        arrived = self._kommo("POST", "/_sandbox/leads", {
            "name": "Patrícia Gomes", "phone": "+55 11 91234-5678", "area": "Auto",
            "responsible_user_id": SALESPERSON_ID,
        })  # fmt: skip
        self.lead_id, self.contact_id = arrived["lead_id"], arrived["contact_id"]
        self._wait_for_assistant("the first message")

    def reactive(self) -> None:
        """The client answers: the assistant replies through Kommo, notes the exchange and fills the lead's
        qualification field from what the client said (the credit value)."""
        self._client_writes("Oi! Quanto fica a parcela de uma carta de crédito de 80 mil?")
        self._wait_for_assistant("the reply")
        self._wait(lambda: any("80000" in note for note in self._view()["notes"]), "the note of the lead's update")
        self._wait(lambda: self._lead_field(CREDIT_FIELD_ID) == "80000", "the credit value on the lead", every=2)

    def follow_up(self) -> None:
        """The client goes quiet after the assistant's answer: the first follow-up is due 20 s later (the local
        run's short ladder), and the sweep sends it in the salesperson's hours."""
        count = self._assistant_lines()

        def followed_up() -> bool:
            self._api("POST", "/_local/schedules/ProactiveTriggerFunction")  # the schedule's job, on demand
            return self._assistant_lines() > count

        self._wait(followed_up, "a follow-up", seconds=FOLLOW_UP_SECONDS, every=5)

    def scheduling(self) -> None:
        """The client asks for a meeting: a slot is booked, the client gets the confirmation, the salesperson
        a meeting task."""
        self._client_writes("Quero marcar uma reunião amanhã")
        self._wait_for_assistant("the reply and the booking's confirmation", lines=2)
        self._wait(lambda: any(t["task_type_id"] == MEETING_TASK_TYPE for t in self._view()["tasks"]), "a meeting task")

    def takeover(self) -> None:
        """The salesperson takes over with a note on the lead (the client never sees it): the bot stays quiet;
        gives back: the bot answers again."""
        self._salesperson_notes(f"/assumir {self.lead_id}")
        self._wait(lambda: self._bot_status() == "paused", "the bot paused")
        before = self._assistant_lines()
        self._client_writes("Ainda está aí? Prefiro falar com a Ana.")
        time.sleep(QUIET_SECONDS)
        if self._assistant_lines() != before:
            raise ScenarioFailed("the assistant answered over the salesperson")
        self.say(f"   (no answer from the assistant in {QUIET_SECONDS} s: the salesperson has the chat)")
        self._salesperson_notes(f"/liberar {self.lead_id}")
        self._wait(lambda: self._bot_status() == "active", "the bot resumed")
        self._client_writes("Pode me mandar a simulação por aqui?")
        self._wait_for_assistant("the reply after /liberar")

    # ------------------------------------------------------------------ Kommo's side and the views
    def _client_writes(self, text: str) -> None:
        self._kommo("POST", "/_sandbox/chat", {"lead_id": self.lead_id, "from": "client", "text": text})

    def _salesperson_notes(self, text: str) -> None:
        self._kommo("POST", "/_sandbox/notes", {"lead_id": self.lead_id, "from": SALESPERSON_ID, "text": text})

    def _wait_for_assistant(self, what: str, lines: int = 1) -> None:
        count = self._assistant_lines()
        self._wait(lambda: self._assistant_lines() >= count + lines, what)

    def _assistant_lines(self) -> int:
        return sum(line["from"] == "assistant" for line in self._view()["chat"])

    def _bot_status(self) -> str:
        return str(self._api("GET", f"/bot/{self.contact_id}").get("status"))

    def _view(self) -> dict[str, Any]:
        response = requests.get(f"{self.kommo}/_sandbox/leads/{self.lead_id}", timeout=5)
        return response.json() if response.status_code == 200 else {"chat": [], "notes": [], "tasks": []}

    def _lead_field(self, field_id: int) -> str | None:
        """The field's value as Kommo's API gives it (None while Kommo's rate limit, shared with the service,
        answers 429)."""
        lead = self._kommo_api(f"/api/v4/leads/{self.lead_id}")
        if lead is None:
            return None
        values = [f["values"][0]["value"] for f in lead.get("custom_fields_values") or [] if f["field_id"] == field_id]
        return str(values[0]) if values else None

    def _wait(self, done: Callable[[], bool], what: str, seconds: float = ANSWER_SECONDS, every: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"no {what} within {seconds:.0f} s")
            time.sleep(every)

    def print_new(self) -> None:
        """What appeared on the lead since the last call: chat lines, notes and tasks."""
        view = self._view()
        for line in view["chat"][self.shown["chat"] :]:
            who = {"client": "cliente", "assistant": "assistente"}.get(line["from"], line["from"])
            self.say(f"   {line['at']}  {who:>12}: {line['text']}")
        for note in view["notes"][self.shown["notes"] :]:
            self.say(f"   nota no lead: {note}")
        for task in view["tasks"][self.shown["tasks"] :]:
            self.say(f"   tarefa para o vendedor: {task['text']} (até {task['complete_till']})")
        self.shown = {key: len(view[key]) for key in self.shown}

    def _api(self, method: str, path: str) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {LOCAL_SECRETS['API_TOKEN']}"}
        response = requests.request(method, f"{self.service}{path}", headers=headers, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def _kommo_api(self, path: str) -> dict[str, Any] | None:
        headers = {"authorization": f"Bearer {LOCAL_SECRETS['KOMMO_LONG_LIVED_TOKEN']}"}
        response = requests.get(f"{self.kommo}{path}", headers=headers, timeout=30)
        if response.status_code == 429:
            return None
        response.raise_for_status()
        return dict(response.json())

    def _kommo(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.request(method, f"{self.kommo}{path}", json=body, timeout=30)
        if response.status_code >= 300 or response.json().get("webhook_status") != 200:
            raise ScenarioFailed(f"Kommo's webhook was not accepted: {response.status_code} {response.text[:200]}")
        return dict(response.json())


SCENARIOS = [
    ("1. Proactive: a lead fills the form, the assistant writes first", Demo.proactive),
    ("2. Reactive: the client writes, the assistant answers and fills the lead's credit value", Demo.reactive),
    ("3. Follow-up: the client goes quiet, the assistant follows up (20 s in the local run)", Demo.follow_up),
    ("4. Scheduling: the client asks for a meeting, it is booked and confirmed", Demo.scheduling),
    ("5. Human takeover: /assumir in a note silences the bot, /liberar gives the chat back", Demo.takeover),
]


def run_demo(service: str, kommo: str, say: Callable[[str], None] = print) -> list[str]:
    """Run the scenarios in order on one new lead; the names of those that failed."""
    demo = Demo(service.rstrip("/"), kommo.rstrip("/"), say)
    failed = []
    for title, scenario in SCENARIOS:
        say(f"\n{title}")
        try:
            scenario(demo)
            outcome = "ok"
        except (ScenarioFailed, requests.RequestException) as error:
            failed.append(title)
            outcome = f"FAILED: {error}"
        demo.print_new()
        say(f"   -> {outcome}")
    say(f"\nLead {demo.lead_id} in the sandbox: {kommo}/_sandbox/ (what the client sees, notes, tasks)")
    return failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", default="http://127.0.0.1:3000", help="the running service (make run)")
    parser.add_argument("--kommo", default="http://127.0.0.1:8088", help="its Kommo sandbox")
    args = parser.parse_args(argv)
    try:
        requests.get(f"{args.service}/health", timeout=5).raise_for_status()
        requests.get(f"{args.kommo}/_sandbox/leads", timeout=5).raise_for_status()
    except requests.RequestException:
        sys.exit(f"The service is not running on {args.service} with its sandbox: start `make run` first.")
    failed = run_demo(args.service, args.kommo)
    print(f"\n{len(SCENARIOS) - len(failed)} of {len(SCENARIOS)} scenarios succeeded.")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
