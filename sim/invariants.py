"""The invariants, each a named check of the world against the story: checked after every step (or, for
those that hold only once the queues drain, at the end), counted, and every violation reported with
what broke it.

To add one: a function `(world, story, final) -> list[str]` (the violations, in words) and a line in
`INVARIANTS`. Each must be able to fail: tests/sim/test_invariants_catch.py plants a violation of
each one and checks that it is reported.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from sim.steps import Story
from sim.world import LOST, WON, SimWorld

DAY = 24 * 3600
ANSWER_TAG = re.compile(r"\[#([^\]]*)\]")
FIRST_TAG = re.compile(r"\[first:([a-z_]*)\]")
TEMPLATE = "[modelo de WhatsApp"
EXCHANGE = "💬 Cliente:"  # texts.py note_exchange: the record of a question and its answer
FIRST_MESSAGES = ("trigger", "lead_change", "unsorted_lead")  # the queue records a first message is written on
FOLLOW_UP = "follow_up"  # the queue record a follow-up is written on
REPLY = "flush_due"  # the queue record a reply to the client's messages is written on
NUMBERS = {"numeric": (int, float), "date": (int,)}  # what Kommo takes in a field of each type (a date: unix time)
Check = Callable[[SimWorld, Story, bool], list[str]]


def never_over_a_human(world: SimWorld, story: Story, final: bool) -> list[str]:
    """1. Never a message to a client while a salesperson holds the chat (from the pause to the release)."""
    auto_resume = world.settings_value("auto_resume_hours") * 3600
    contact_of = {lead.lead_id: lead.contact_id for lead in world.team.leads}
    violations = []
    for index, entry in world.assistant_messages():
        for hold in story.holds:
            if contact_of.get(entry["lead_id"]) != hold.contact_id or index < hold.start:
                continue
            if (hold.end is None or index < hold.end) and hold.lasts_at(entry["at"], auto_resume):
                violations.append(f"lead {entry['lead_id']}: the assistant wrote while a salesperson held the chat")
    return violations


def answered_once(world: SimWorld, story: Story, final: bool) -> list[str]:
    """2. Every client message ends answered exactly once, or with a note or task on its lead saying why
    not (a message a salesperson's hold covers, or one they wrote after, is theirs to answer)."""
    tags = Counter(
        message_id
        for _, entry in world.assistant_messages()
        for found in ANSWER_TAG.findall(entry["text"])
        for message_id in found.split(",")
        if message_id
    )
    violations = [
        f"client message {message_id} answered {times} times" for message_id, times in tags.items() if times > 1
    ]
    if not final:
        return violations
    salespeople = {str(user["name"]) for user in world.kommo.users}
    for message in story.messages:
        if message.held:
            continue
        answered = (
            message.message_id in tags
            or any(  # by the assistant, or by a salesperson in the chat after it
                entry["lead_id"] == message.lead_id and entry["from"] in salespeople
                for entry in world.kommo.chat[message.chat_index + 1 :]
            )
        )
        noted = any(  # a note saying why not: the record of an exchange is no such note
            note["lead_id"] == message.lead_id and not str(note.get("params", {}).get("text", "")).startswith(EXCHANGE)
            for note in world.kommo.notes[message.notes_before :]
        )
        tasked = any(task.get("entity_id") == message.lead_id for task in world.kommo.tasks[message.tasks_before :])
        if not (answered or noted or tasked):
            violations.append(
                f"client message {message.message_id} on lead {message.lead_id}: neither answered nor noted"
            )
    return violations


def first_messages_in_bounds(world: SimWorld, story: Story, final: bool) -> list[str]:
    """3. At most one first message per lead and trigger kind; none outside the salesperson's hours or on
    a holiday; none to a won or lost lead, or to a contact without a phone."""
    violations = []
    seen: Counter[tuple[int, str]] = Counter()
    phones = {lead.lead_id: lead.phone for lead in world.team.leads}
    for _, entry in world.assistant_messages():
        for kind in FIRST_TAG.findall(entry["text"]):
            lead_id = entry["lead_id"]
            seen[(lead_id, kind)] += 1
            if seen[(lead_id, kind)] == 2:
                violations.append(f"lead {lead_id}: a second first message for {kind}")
            if _status_at(world, story, lead_id, entry["at"]) in (WON, LOST):
                violations.append(f"lead {lead_id}: a first message to a closed lead")
            if lead_id in phones and not phones[lead_id]:
                violations.append(f"lead {lead_id}: a first message to a contact without a phone")
            salesperson = world.first_message_salesperson(lead_id, entry["at"])
            if salesperson is not None and not world.team.at_work(salesperson, entry["at"]):
                violations.append(f"lead {lead_id}: a first message outside salesperson {salesperson}'s hours")
    return violations


def templates_outside_window(world: SimWorld, story: Story, final: bool) -> list[str]:
    """4. Outside the 24 h window only templates go out."""
    violations = []
    last_client: dict[int, float] = {}
    for entry in world.kommo.chat:
        if entry["from"] == "client":
            last_client[entry["lead_id"]] = entry["at"]
        elif entry["from"] == "assistant" and not entry["text"].startswith(TEMPLATE):
            wrote = last_client.get(entry["lead_id"])
            if wrote is None or entry["at"] - wrote > DAY:
                violations.append(f"lead {entry['lead_id']}: free text outside the 24 h window")
    return violations


def appointments_consistent(world: SimWorld, story: Story, final: bool) -> list[str]:
    """5. No two live appointments of one salesperson overlap; one open meeting task per live appointment,
    none for a cancelled one."""
    violations = []
    live = [item for item in world.appointments() if item.get("status") != "cancelled"]
    by_salesperson: dict[int, list[tuple[int, int, str]]] = {}
    for item in live:
        span = (int(item["start"]), int(item["end"]), str(item["appointment_id"]))
        by_salesperson.setdefault(int(item["vendor_id"]), []).append(span)
    for salesperson, spans in by_salesperson.items():
        spans.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if start < end:
                violations.append(f"salesperson {salesperson}: appointments {first} and {second} overlap")
    if final:
        meeting_tasks = [
            task for task in world.kommo.tasks if task.get("task_type_id") == 2 and not task["is_completed"]
        ]
        for item in world.appointments():
            open_tasks = [
                task
                for task in meeting_tasks
                if (task["entity_id"], task["responsible_user_id"]) == (int(item["lead_id"]), int(item["vendor_id"]))
                and int(task["complete_till"]) == int(item["start"])
            ]
            cancelled = item.get("status") == "cancelled"
            if cancelled and open_tasks:
                violations.append(f"appointment {item['appointment_id']}: cancelled with an open meeting task")
            if not cancelled and len(open_tasks) != 1:
                violations.append(f"appointment {item['appointment_id']}: {len(open_tasks)} open meeting tasks")
    return violations


def beliefs_match_kommo(world: SimWorld, story: Story, final: bool) -> list[str]:
    """6. What the service believes of a lead (responsible, status) matches Kommo's once the queues drain."""
    if not final:
        return []
    violations = []
    for lead_id, belief in world.kept_leads().items():
        actual = world.kommo.leads.get(lead_id)
        if actual is None:
            continue
        for key in ("responsible_user_id", "status_id"):
            if key in belief and belief[key] is not None and int(belief[key]) != int(actual[key]):
                violations.append(f"lead {lead_id}: the service believes {key}={belief[key]}, Kommo says {actual[key]}")
    return violations


def kommo_rate_respected(world: SimWorld, story: Story, final: bool) -> list[str]:
    """7. Kommo never sees more than 7 requests in any second; no request is answered 429 twice in a row."""
    from bench.harness import KOMMO_LIMIT, KommoLoad

    requests = [request for request in world.kommo.requests if request.path != "/oauth2/access_token"]
    violations = []
    busiest = KommoLoad.of(requests).busiest_second
    if busiest > KOMMO_LIMIT:
        violations.append(f"Kommo saw {busiest} requests in one second")
    own = [request.status == 429 and not getattr(request, "injected", False) for request in requests]
    if any(first and second for first, second in itertools.pairwise(own)):
        violations.append("Kommo answered 429 twice in a row")
    return violations


def replay_changes_nothing(world: SimWorld, story: Story, final: bool) -> list[str]:
    """8. Replaying any input (webhook, queue record, API call with its key) changes nothing."""
    return [f"a replayed {what} changed: {changed}" for what, changed in story.replays if changed]


def nothing_lost(world: SimWorld, story: Story, final: bool) -> list[str]:
    """9. Nothing is lost: nothing in a dead-letter queue; at the end every queue has drained."""
    violations = [f"{count} message(s) in {queue}" for queue, count in world.dead_letters().items()]
    if final and not world.drained:
        violations.append("the queues did not drain")
    return violations


def follow_ups_after_the_assistant(world: SimWorld, story: Story, final: bool) -> list[str]:
    """10. A follow-up only when the assistant spoke last: after the client's (or a salesperson's) last message
    on the lead, a reply or a first message of the assistant came before it (a ladder starts only there, and any
    client or salesperson message stops it); the fallback reply, which promises a person, starts none."""
    violations = []
    fallback = world.settings_value("texts").fallback_reply
    follow_ups = {index for index, _ in world.assistant_messages(FOLLOW_UP)}
    starts = {index for index, entry in world.assistant_messages(REPLY, *FIRST_MESSAGES) if entry["text"] != fallback}
    person: dict[int, int] = {}  # lead -> the chat index of its client's or a salesperson's last message
    started: dict[int, int] = {}  # lead -> the chat index of the assistant's last reply or first message
    for index, entry in enumerate(world.kommo.chat):
        lead_id = entry["lead_id"]
        if entry["from"] != "assistant":
            person[lead_id] = index
        elif index in starts:
            started[lead_id] = index
        elif index in follow_ups and started.get(lead_id, -1) < person.get(lead_id, 0):
            violations.append(f"lead {lead_id}: a follow-up after the client's or a salesperson's last message")
    return violations


def nothing_first_after_opt_out(world: SimWorld, story: Story, final: bool) -> list[str]:
    """11. No first message or follow-up to a client who opted out ("pare"), unless they opted back in
    ("voltar") since."""
    return [
        f"lead {entry['lead_id']}: a {'follow-up' if world.made_by[index] == FOLLOW_UP else 'first message'} "
        "after the client opted out"
        for index, entry in world.assistant_messages(FOLLOW_UP, *FIRST_MESSAGES)
        if story.opted_out(entry["lead_id"], index)
    ]


def only_qualification_fields_written(world: SimWorld, story: Story, final: bool) -> list[str]:
    """12. The service writes no lead field but those of QUALIFICATION_FIELDS, each with a value its type in Kommo
    takes, and the Salesbot relay's (the reply field, the template variables); Kommo sees every PATCH."""
    qualification = set(world.settings_value("qualification_fields").values())
    relay = {world.settings_value("kommo_reply_field_id"), *world.settings_value("template_fields").values()}
    kinds = {field["id"]: field for field in world.kommo.lead_fields}
    violations = []
    for lead_id, change in _lead_writes(world):
        for written in change.get("custom_fields_values") or []:
            field_id, values = written.get("field_id"), written.get("values") or []
            if field_id in relay:
                continue
            if field_id not in qualification:
                violations.append(f"lead {lead_id}: field {field_id} written, not one of QUALIFICATION_FIELDS")
            elif not _fits(kinds.get(field_id), values):
                violations.append(f"lead {lead_id}: field {field_id} written with {values}, not a value it takes")
    return violations


def only_allowed_statuses_written(world: SimWorld, story: Story, final: bool) -> list[str]:
    """13. The service moves no lead to a status outside ASSISTANT_STATUS_IDS (n8n's move_status allowlist)."""
    allowed = world.settings_value("assistant_status_ids")
    return [
        f"lead {lead_id}: moved to status {change['status_id']}, not in ASSISTANT_STATUS_IDS"
        for lead_id, change in _lead_writes(world)
        if "status_id" in change and change["status_id"] not in allowed
    ]


def follow_ups_at_most(world: SimWorld, story: Story, final: bool) -> list[str]:
    """14. A lead gets at most FOLLOW_UP_MAX_PER_LEAD follow-ups, whatever its ladders."""
    most = world.settings_value("follow_up_max_per_lead")
    sent = Counter(entry["lead_id"] for _, entry in world.assistant_messages(FOLLOW_UP))
    return [f"lead {lead_id}: {times} follow-ups (at most {most})" for lead_id, times in sent.items() if times > most]


def _lead_writes(world: SimWorld) -> list[tuple[int, dict[str, Any]]]:
    """Every lead change the service sent Kommo (PATCH of one lead or of a list), whatever Kommo answered."""
    writes = []
    for request in world.kommo.requests:
        if request.method != "PATCH" or not request.path.startswith("/api/v4/leads"):
            continue
        one = request.path.rsplit("/", 1)[-1]
        for change in request.body if isinstance(request.body, list) else [request.body]:
            writes.append((int(one) if one.isdigit() else int(change.get("id", 0)), change))
    return writes


def _fits(field: dict[str, Any] | None, values: list[dict[str, Any]]) -> bool:
    """Whether a field's written values are one Kommo takes: a list value by its id, a number, a date's unix time."""
    if field is None or len(values) != 1:
        return False
    if field["type"] == "select":
        return values[0].get("enum_id") in {option["id"] for option in field["enums"] or []}
    return type(values[0].get("value")) in NUMBERS.get(field["type"], ())


def _status_at(world: SimWorld, story: Story, lead_id: int, moment: float) -> int:
    status = 0
    for since, value in story.statuses.get(lead_id, []):
        if since <= moment:
            status = value
    return status


INVARIANTS: dict[str, Check] = {
    "1 never over a human": never_over_a_human,
    "2 answered once or noted": answered_once,
    "3 first messages in bounds": first_messages_in_bounds,
    "4 templates outside 24 h": templates_outside_window,
    "5 appointments consistent": appointments_consistent,
    "6 beliefs match Kommo": beliefs_match_kommo,
    "7 Kommo's rate respected": kommo_rate_respected,
    "8 replay changes nothing": replay_changes_nothing,
    "9 nothing lost": nothing_lost,
    "10 follow-ups after assistant": follow_ups_after_the_assistant,
    "11 nothing first after opt-out": nothing_first_after_opt_out,
    "12 only qualification fields": only_qualification_fields_written,
    "13 only allowed statuses": only_allowed_statuses_written,
    "14 follow-ups at most N": follow_ups_at_most,
}
