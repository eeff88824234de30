"""The steps a simulation is made of: drawn from a seed as plain data (so a failing list can be saved,
shrunk and replayed), then applied to the world one by one. `Story` keeps what happened from the
outside (who wrote what, when a salesperson held a chat): the truth the invariants check the service
against.

To add a step: a `draw_*` line in `draw_step` that returns its data, and an `apply_*` function named by
its "do" (`APPLIERS`). docs/simulation.md says more.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.kommo_webhooks import lead_change_body
from sim.team import SALESPEOPLE
from sim.world import LOST, WON, SimWorld

Step = dict[str, Any]
NEXT_STATUS = 61234568
CLIENT_SAYS = {
    "hello": "Oi! Queria saber mais sobre o consórcio.",
    "human": "Quero falar com um atendente, por favor.",
    "meeting": "Podemos agendar uma reunião?",
    "price": "Qual o valor da parcela?",
}
CONSENT_SAYS = {  # whole messages the service takes as an opt-out (OPT_OUT_PHRASES) or an opt-in (OPT_IN_PHRASES)
    "stop": "Pare",
    "stop_long": "Não quero mais receber!",
    "back": "voltar",
}
N8N_ANSWERS = ("text", "template", "handover", "schedule", "move_status", "failure", "garbage", "slow", "unsigned")
LEAD_CHANGES = ("set_fields", "set_fields_bad", "set_fields_unknown", "move_status_outside")  # sim/world.py N8N_ACTIONS
HANDOVER_NOTE = "Bot pausado por assistente"  # texts.py note_paused, who = the assistant
KOMMO_FAULTS = ("429", "500", "timeout_after", "salesbot_ambiguous", "connection")


@dataclass
class Hold:
    """A salesperson holds a contact's chat: from the chat entry `start` until `end` (chat indices)."""

    contact_id: int
    start: int
    end: int | None = None
    last_activity: float = 0.0
    waits_for_a_person: bool = False  # the assistant's handover: no auto-resume until a salesperson writes

    def lasts_at(self, now: float, auto_resume_seconds: float) -> bool:
        """Whether the hold still covers the chat at `now` (ended by /liberar is checked by the caller)."""
        return self.waits_for_a_person or now < self.last_activity + auto_resume_seconds


@dataclass
class SentMessage:
    """A client's message: its id, lead, when, where it sits in the chat, and what held it back."""

    message_id: str
    lead_id: int
    at: float
    chat_index: int
    notes_before: int
    tasks_before: int
    held: bool
    killed: bool


@dataclass
class Story:
    """What happened in the world, as its people and the simulator know it."""

    messages: list[SentMessage] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    statuses: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # lead -> (since, status)
    last_input: Step | None = None
    kill_switch: bool = False
    counter: int = 0
    notes_seen: int = 0
    started: float = 0.0
    replays: list[tuple[str, str]] = field(default_factory=list)  # (what, the change it made: "" if none)
    consent: dict[int, list[tuple[int, bool]]] = field(default_factory=dict)  # lead -> (chat index, opted out)

    def opted_out(self, lead_id: int, chat_index: int) -> bool:
        """Whether the lead's client had opted out (and not back in) before this place in the chat."""
        said = [out for index, out in self.consent.get(lead_id, []) if index < chat_index]
        return bool(said) and said[-1]

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:05d}"

    def held(self, contact_id: int, now: float, auto_resume_seconds: float) -> Hold | None:
        """The hold on a contact's chat now, if any."""
        for hold in self.holds:
            if hold.contact_id == contact_id and hold.end is None and hold.lasts_at(now, auto_resume_seconds):
                return hold
        return None


# ---------------------------------------------------------------------- drawing
def draw_steps(seed: int, count: int, lead_count: int) -> list[Step]:
    """The step list of a seed."""
    rng = random.Random(seed * 7919 + 1)  # noqa: S311 - a replayable schedule, not a secret
    return [draw_step(rng, lead_count) for _ in range(count)]


def draw_step(rng: random.Random, lead_count: int) -> Step:
    """One step, drawn by weight."""
    lead = rng.randrange(lead_count)
    choices: list[tuple[float, Callable[[], Step]]] = [
        (20, lambda: {"do": "client_writes", "lead": lead, "say": rng.choice(list(CLIENT_SAYS))}),
        (3, lambda: {"do": "client_writes", "lead": lead, "say": "media"}),
        (3, lambda: {"do": "client_burst", "lead": lead, "count": rng.randint(2, 4)}),
        (2, lambda: {"do": "client_writes", "lead": lead, "say": "hello", "late_seconds": rng.randint(60, 7200)}),
        (2, lambda: {"do": "client_writes", "lead": lead, "say": rng.choice(["stop", "stop_long", "back"])}),
        (5, lambda: {"do": "salesperson_writes", "lead": lead}),
        (5, lambda: {"do": "command", "lead": lead, "verb": rng.choice(["assumir", "liberar", "liberar"])}),
        (4, lambda: {"do": "lead_event", "lead": lead, "event": rng.choice(["add", "unsorted_add"])}),
        (3, lambda: {"do": "trigger", "lead": lead, "kind": rng.choice(["form", "material", "meeting_request"])}),
        (2, lambda: {"do": "status", "lead": lead, "to": rng.choice([WON, LOST, NEXT_STATUS])}),
        (2, lambda: {"do": "responsible", "lead": lead, "to": rng.choice(list(SALESPEOPLE))}),
        (3, lambda: {"do": "book", "lead": lead, **_slot(rng)}),
        (2, lambda: {"do": "reschedule", "nth": rng.randrange(8), **_slot(rng)}),
        (1, lambda: {"do": "cancel", "nth": rng.randrange(8)}),
        (8, lambda: {"do": "n8n_answers", "kind": rng.choice(N8N_ANSWERS)}),
        (4, lambda: {"do": "n8n_answers", "kind": rng.choice(LEAD_CHANGES)}),
        (5, lambda: {"do": "kommo_fault", "kind": rng.choice(KOMMO_FAULTS)}),
        (1, lambda: {"do": "outage", "of": rng.choice(["kommo", "n8n"]), "seconds": rng.choice([60, 300, 1200])}),
        (1, lambda: {"do": "lambda_dies", "function": "ConversationWorkerFunction", "after_calls": rng.randint(0, 4)}),
        (1, lambda: {"do": "kill_switch", "on": rng.random() < 0.5}),
        (5, lambda: {"do": "replay"}),
        (15, lambda: {"do": "wait", "seconds": rng.choice([5, 30, 120, 600, 1800, 3600])}),
        (3, lambda: {"do": "wait", "seconds": rng.choice([2, 3, 5]) * 3600}),  # follow-ups come due (sim/world.py)
        (1, lambda: {"do": "wait", "seconds": rng.choice([4, 12, 30]) * 3600}),
    ]
    weights = [weight for weight, _ in choices]
    return rng.choices([make for _, make in choices], weights)[0]()


def _slot(rng: random.Random) -> Step:
    """A meeting time as a salesperson's client would ask for it: a day soon, on the half hour."""
    return {"in_days": rng.randint(0, 6), "hour": rng.randint(8, 18), "minute": rng.choice([0, 30])}


# ---------------------------------------------------------------------- applying
def apply_step(world: SimWorld, story: Story, step: Step) -> None:
    """Apply one step, then deliver what fell due at this moment."""
    APPLIERS[step["do"]](world, story, step)
    world.deliver_due()
    _handovers(world, story)


def _handovers(world: SimWorld, story: Story) -> None:
    """The assistant passed a chat to a human (its pause note on the lead): from now on a salesperson holds it."""
    contact_of = {lead.lead_id: lead.contact_id for lead in world.team.leads}
    for note in world.kommo.notes[story.notes_seen :]:
        text = str((note.get("params") or {}).get("text", ""))
        if text.startswith(HANDOVER_NOTE) and note["lead_id"] in contact_of:
            contact, at = contact_of[note["lead_id"]], float(note["created_at"])
            if story.held(contact, at, _auto_resume_seconds()) is None:  # from when it was written, not seen
                # Kommo dates a note to the second: the chat's entries of that second count as before it
                start = bisect.bisect_right([entry["at"] for entry in world.kommo.chat], at + 1)
                story.holds.append(Hold(contact, start, last_activity=at, waits_for_a_person=True))
    story.notes_seen = len(world.kommo.notes)


def apply_client_writes(world: SimWorld, story: Story, step: Step) -> None:
    lead = world.team.leads[step["lead"]]
    text = {**CLIENT_SAYS, **CONSENT_SAYS}.get(step["say"], "")
    extra = [] if step["say"] != "media" else _picture()
    created_at = int(world.clock.now) - int(step.get("late_seconds", 0))
    if step["say"] in CONSENT_SAYS:
        story.consent.setdefault(lead.lead_id, []).append((len(world.kommo.chat), step["say"] != "back"))
    _client_message(world, story, lead.lead_id, lead.contact_id, text or "", created_at, extra)


def apply_client_burst(world: SimWorld, story: Story, step: Step) -> None:
    for index in range(step["count"]):
        lead = world.team.leads[step["lead"]]
        _client_message(world, story, lead.lead_id, lead.contact_id, f"mensagem {index + 1}", int(world.clock.now), [])
        world.clock.sleep(1)


def _client_message(
    world: SimWorld, story: Story, lead_id: int, contact_id: int, text: str, created_at: int, extra: list[Any]
) -> None:
    from local.kommo_seed import chat_message_event
    from local.kommo_webhooks import CLIENT_AUTHOR, chat_body

    message_id = story.next_id("msg")
    auto_resume = _auto_resume_seconds()
    story.messages.append(
        SentMessage(
            message_id,
            lead_id,
            world.clock.now,
            len(world.kommo.chat),
            len(world.kommo.notes),
            len(world.kommo.tasks),
            held=story.held(contact_id, world.clock.now, auto_resume) is not None,
            killed=story.kill_switch,
        )
    )
    world.kommo.events.append(chat_message_event(contact_id, message_id, created_at))
    world.kommo.chat.append(
        {"lead_id": lead_id, "at": world.clock.now, "from": "client", "text": text, "id": message_id}
    )
    body = chat_body(
        message_id,
        text,
        "incoming",
        CLIENT_AUTHOR,
        lead=lead_id,
        contact=contact_id,
        created_at=created_at,
        extra=extra,
    )
    _post(world, story, body, lead_id)


def _picture() -> list[tuple[str, str]]:
    return [("attachment[type]", "picture"), ("attachment[link]", "https://example.com/foto.jpg")]


def apply_salesperson_writes(
    world: SimWorld, story: Story, step: Step, text: str = "Oi, aqui é do time de vendas."
) -> None:
    from local.kommo_webhooks import chat_body, salesperson_author

    lead = world.team.leads[step["lead"]]
    responsible = int(world.kommo.leads[lead.lead_id]["responsible_user_id"])
    user = next(user for user in world.kommo.users if user["id"] == responsible)
    message_id = story.next_id("out")
    world.kommo.chat.append({"lead_id": lead.lead_id, "at": world.clock.now, "from": user["name"], "text": text})
    _hold_changes(world, story, lead.contact_id, text)
    body = chat_body(
        message_id,
        text,
        "outgoing",
        salesperson_author(user["id"], user["name"]),
        lead=lead.lead_id,
        contact=lead.contact_id,
    )
    _post(world, story, body, lead.lead_id)


def apply_command(world: SimWorld, story: Story, step: Step) -> None:
    lead = world.team.leads[step["lead"]]
    apply_salesperson_writes(world, story, step, text=f"/{step['verb']} {lead.contact_id}")


def _hold_changes(world: SimWorld, story: Story, contact_id: int, text: str) -> None:
    """A salesperson's message: /liberar ends the hold on the chat, anything else starts or renews it."""
    hold = story.held(contact_id, world.clock.now, _auto_resume_seconds())
    if text.startswith("/liberar"):
        if hold:
            hold.end = len(world.kommo.chat)
    elif hold:
        hold.last_activity = world.clock.now
        hold.waits_for_a_person = False  # a person answered: the usual idle auto-resume from now on
    else:
        story.holds.append(Hold(contact_id, len(world.kommo.chat), last_activity=world.clock.now))


def apply_lead_event(world: SimWorld, story: Story, step: Step) -> None:
    from urllib.parse import urlencode

    from local.kommo_webhooks import ACCOUNT, lead_added_body

    lead = world.kommo.leads[world.team.leads[step["lead"]].lead_id]
    if step["event"] == "add":
        _post(world, story, lead_added_body(lead), lead["id"])
        return
    prefix = "unsorted[add][0]"
    rows = [
        (f"{prefix}[uid]", f"uid-{lead['id']}"),
        (f"{prefix}[source]", "site"),
        (f"{prefix}[lead_id]", str(lead["id"])),
    ]
    rows += [(f"{prefix}[pipeline_id]", str(lead["pipeline_id"])), (f"{prefix}[created_at]", str(int(world.clock.now)))]
    _post(world, story, urlencode(ACCOUNT + rows), lead["id"])


def apply_status(world: SimWorld, story: Story, step: Step) -> None:
    lead = world.kommo.leads[world.team.leads[step["lead"]].lead_id]
    old = lead["status_id"]
    lead["status_id"] = step["to"]
    story.statuses.setdefault(lead["id"], []).append((world.clock.now, step["to"]))
    _post(world, story, lead_change_body("status", lead, old_status_id=old), lead["id"])


def apply_responsible(world: SimWorld, story: Story, step: Step) -> None:
    lead = world.kommo.leads[world.team.leads[step["lead"]].lead_id]
    old = lead["responsible_user_id"]
    lead["responsible_user_id"] = step["to"]
    _post(world, story, lead_change_body("responsible", lead, old_responsible_user_id=old), lead["id"])


def apply_trigger(world: SimWorld, story: Story, step: Step) -> None:
    lead = world.team.leads[step["lead"]]
    body = {"lead_id": lead.lead_id, "trigger": step["kind"]}
    _api(world, story, {"method": "POST", "path": "/triggers", "body": body}, lead.lead_id)


def apply_book(world: SimWorld, story: Story, step: Step) -> None:
    """The operator books a meeting for the lead with its salesperson, in the salesperson's time zone."""
    lead = world.kommo.leads[world.team.leads[step["lead"]].lead_id]
    salesperson = int(lead["responsible_user_id"])
    start = _local_start(world, salesperson, step)
    body = {
        "vendor_id": salesperson,
        "lead_id": lead["id"],
        "start": start,
        "idempotency_key": story.next_id("booking"),
    }
    _api(world, story, {"method": "POST", "path": "/appointments", "body": body}, lead["id"])


def apply_reschedule(world: SimWorld, story: Story, step: Step) -> None:
    """The operator moves one of the appointments (the `nth`, in booking order) to another time."""
    appointment = _nth_appointment(world, step["nth"])
    if appointment is not None:
        start = _local_start(world, int(appointment["vendor_id"]), step)
        path = f"/appointments/{appointment['appointment_id']}/reschedule"
        _api(world, story, {"method": "POST", "path": path, "body": {"start": start}}, int(appointment["lead_id"]))


def apply_cancel(world: SimWorld, story: Story, step: Step) -> None:
    """The operator cancels one of the appointments (the `nth`, in booking order)."""
    appointment = _nth_appointment(world, step["nth"])
    if appointment is not None:
        _api(
            world,
            story,
            {"method": "DELETE", "path": f"/appointments/{appointment['appointment_id']}"},
            int(appointment["lead_id"]),
        )


def _nth_appointment(world: SimWorld, nth: int) -> dict[str, Any] | None:
    booked = sorted(world.appointments(), key=lambda item: (int(item["created_at"]), str(item["appointment_id"])))
    return booked[nth % len(booked)] if booked else None


def _local_start(world: SimWorld, vendor_id: int, step: Step) -> str:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(world.team.profiles.get(vendor_id, {}).get("timezone", "America/Sao_Paulo"))
    day = datetime.fromtimestamp(world.clock.now, zone).date() + timedelta(days=step["in_days"])
    return datetime(day.year, day.month, day.day, step["hour"], step["minute"], tzinfo=zone).isoformat()


def _api(world: SimWorld, story: Story, call: dict[str, Any], lead_id: int) -> None:
    from local.defaults import LOCAL_SECRETS

    story.last_input = {"api": call, "key": story.next_id("key"), "lead": lead_id}
    world.api(**call, token=LOCAL_SECRETS["API_TOKEN"], key=story.last_input["key"])


def apply_n8n_answers(world: SimWorld, story: Story, step: Step) -> None:
    """n8n's next answer is of this kind (text, template, ... garbage, slow; lead changes: sim/world.py N8N_ACTIONS)."""
    kind = step["kind"]
    if kind == "failure":
        world.n8n.respond_with(500, {"message": "workflow failed"})
    elif kind == "garbage":
        world.n8n.respond_with(raw=b"<html>Bad gateway</html>")
    elif kind == "slow":
        world.n8n.respond_with(body={"reply": "Resposta lenta."}, delay_seconds=120)
    elif kind == "unsigned":
        world.n8n.respond_with(body={"reply": "Sem assinatura."}, signature="missing")
    else:
        world.n8n_next.append(kind)


def apply_kommo_fault(world: SimWorld, story: Story, step: Step) -> None:
    kind = step["kind"]
    if kind == "429":
        world.kommo.fail_next("/api/", 429, headers={"Retry-After": "1"})
    elif kind == "500":
        world.kommo.fail_next("/api/", 500)
    elif kind == "timeout_after":
        world.kommo.hang_next("/api/", 60)
    elif kind == "salesbot_ambiguous":
        world.kommo.fail_next("/api/v2/salesbot/run", 504, after_effect=True)
    else:
        world.hosts.down("kommo.sim", world.clock.now + 1)


def apply_outage(world: SimWorld, story: Story, step: Step) -> None:
    """Kommo answers 503 to every API call, or n8n refuses connections, for `seconds`."""
    if step["of"] == "kommo":
        world.kommo.fail_for(step["seconds"], 503, "/api/")
    else:
        world.hosts.down("n8n.sim", world.clock.now + step["seconds"])


def apply_lambda_dies(world: SimWorld, story: Story, step: Step) -> None:
    world.time_out_next[step["function"]] = step["after_calls"]


def apply_kill_switch(world: SimWorld, story: Story, step: Step) -> None:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    story.kill_switch = step["on"]
    boto3.client("ssm").put_parameter(
        Name=world.stack.environment()["KILL_SWITCH_PARAMETER"],
        Type="String",
        Value=json.dumps({"stop_all": step["on"], "paused_salespeople": []}),
        Overwrite=True,
    )
    parameters.clear_caches()  # as the 30 s cache expiring


def apply_replay(world: SimWorld, story: Story, step: Step) -> None:
    """Kommo posts the last webhook again (or the last API call comes again with its key): nothing may change."""
    from local.defaults import LOCAL_SECRETS

    if story.last_input is None:
        return
    world.deliver_due()
    lead_id = story.last_input["lead"]  # the replay's effects are on its lead (other leads' work may fall due)
    before = fingerprint(world, lead_id)
    if "webhook" in story.last_input:
        world.webhook(story.last_input["webhook"])
    else:
        world.api(**story.last_input["api"], token=LOCAL_SECRETS["API_TOKEN"], key=story.last_input["key"])
    world.deliver_due()
    after = fingerprint(world, lead_id)
    changed = [name for name in before if before[name] != after[name]]
    story.replays.append(("webhook" if "webhook" in story.last_input else "api", ", ".join(changed)))


def apply_wait(world: SimWorld, story: Story, step: Step) -> None:
    world.advance(step["seconds"])


def fingerprint(world: SimWorld, lead_id: int) -> dict[str, Any]:
    """What a client or a salesperson could see change on a lead: its chat, notes, tasks, Salesbot runs, state."""
    lead = world.kommo.leads[lead_id]
    return {
        "chat": sum(1 for entry in world.kommo.chat if entry["lead_id"] == lead_id),
        "notes": sum(1 for note in world.kommo.notes if note["lead_id"] == lead_id),
        "tasks": json.dumps(
            [t for t in world.kommo.tasks if t.get("entity_id") == lead_id], sort_keys=True, default=str
        ),
        "salesbot runs": sum(1 for run in world.kommo.salesbot_runs if int(run["entity_id"]) == lead_id),
        "lead": [lead["status_id"], lead["responsible_user_id"]],
    }


def _post(world: SimWorld, story: Story, body: str, lead_id: int) -> None:
    story.last_input = {"webhook": body, "lead": lead_id}
    world.webhook(body)


def _auto_resume_seconds() -> float:
    from sales_assistant.config import get_settings

    return get_settings().auto_resume_hours * 3600


APPLIERS: dict[str, Callable[[SimWorld, Story, Step], None]] = {
    "client_writes": apply_client_writes,
    "client_burst": apply_client_burst,
    "salesperson_writes": apply_salesperson_writes,
    "command": apply_command,
    "lead_event": apply_lead_event,
    "status": apply_status,
    "responsible": apply_responsible,
    "trigger": apply_trigger,
    "book": apply_book,
    "reschedule": apply_reschedule,
    "cancel": apply_cancel,
    "n8n_answers": apply_n8n_answers,
    "kommo_fault": apply_kommo_fault,
    "outage": apply_outage,
    "lambda_dies": apply_lambda_dies,
    "kill_switch": apply_kill_switch,
    "replay": apply_replay,
    "wait": apply_wait,
}
