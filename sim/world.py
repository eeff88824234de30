"""The simulated world of one seed: the service's real handlers on moto, the Kommo sandbox and an n8n
stand-in behind in-process HTTP, a sales team with its profiles, all on one virtual clock.

Time moves only in `advance`: the clock jumps from one due event to the next (a queue's message becoming
visible, a schedule firing), and each one is delivered as AWS would: an SQS message to its consumer (one
record per invocation), a rate schedule's event, a one-time schedule's input to its queue.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from local import n8n_standin
from local.kommo_seed import ASSISTANT_STATUS_ID
from sim.clock import VirtualClock
from sim.echoes import KommoEchoes, lead_states
from sim.team import SimTeam
from sim.transport import InProcessHosts

ACCOUNT, REGION = "123456789012", "us-east-1"
KOMMO_HOST, N8N_HOST = "kommo.sim", "n8n.sim"
SETTINGS = {  # what differs from the template's defaults: where the hosts are, and a short follow-up ladder
    "KOMMO_BASE_URL": f"http://{KOMMO_HOST}",
    "N8N_BASE_URL": f"http://{N8N_HOST}",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "FOLLOW_UP_OFFSETS": json.dumps({"default": ["10m", "1h", "3h"]}),  # due within a run, not days later
    "FOLLOW_UP_MAX_PER_LEAD": "4",  # more than one ladder: a lead that writes again can reach it
    "FOLLOW_UP_TEMPLATE": "retomada_follow_up",  # a follow-up outside the 24 h window
}
QUALIFICATION_FIELDS = {  # QUALIFICATION_FIELDS' names -> the lead field the team made in Kommo (name, type, values)
    "orcamento": ("Orçamento", "numeric", None),
    "interesse": ("Interesse", "select", ["Carro", "Moto", "Caminhão"]),
    "visita": ("Data da visita", "date", None),
}
WON, LOST = 142, 143  # Kommo's closed statuses: never ones the assistant may set
N8N_ACTIONS = {  # n8n's lead changes by answer kind (sim/steps.py): allowed, or to be refused by value or by name
    "move_status": [{"type": "move_status", "status_id": ASSISTANT_STATUS_ID}],  # the one ASSISTANT_STATUS_IDS allows
    "move_status_outside": [{"type": "move_status", "status_id": WON}],
    "set_fields": [
        {"type": "set_fields", "fields": {"orcamento": 250000, "interesse": "moto", "visita": "2027-10-01"}},
    ],
    "set_fields_bad": [
        {"type": "set_fields", "fields": {"orcamento": "muito", "interesse": "Avião", "visita": "amanhã"}},
    ],
    "set_fields_unknown": [  # names not in QUALIFICATION_FIELDS ("area" is a field in Kommo: Área)
        {"type": "set_fields", "fields": {"area": "Auto", "cidade": "Campinas"}},
    ],
}
STANDIN_ANSWER = n8n_standin.answer  # the stand-in's own answer (the world puts its tagged one in its place)
SCHEDULES = {  # template parameters: the sales team's day, with the canary and the sync less often than deployed
    "VendorSyncSchedule": "rate(6 hours)",
    "HealthCheckSchedule": "rate(1 hour)",
}
RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours)\)")


class LambdaTimedOut(BaseException):
    """Lambda stops the invocation here: nothing after this point runs, nothing is reported."""


@dataclass
class Invocation:
    """One handler invocation: what it was for and how it ended."""

    function_id: str
    at: float
    outcome: str  # "ok", "failed" (some record failed), "raised", "timed out"


@dataclass
class SimWorld:
    """Everything one seed runs on; `open_world` builds it."""

    clock: VirtualClock
    hosts: InProcessHosts
    stack: Any
    kommo: Any
    n8n: Any
    team: SimTeam
    sqs: Any
    scheduler: Any
    handlers: dict[str, Any] = field(default_factory=dict)
    consumers: dict[str, str] = field(default_factory=dict)  # queue logical id -> function id
    rate_schedules: list[tuple[str, int]] = field(default_factory=list)  # (function id, every n seconds)
    next_fire: dict[str, float] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    metrics: Counter[str] = field(default_factory=Counter)
    time_out_next: dict[str, int] = field(default_factory=dict)  # function id -> Kommo/n8n calls before it dies
    echoes: KommoEchoes = field(default_factory=KommoEchoes)
    n8n_next: list[str] = field(default_factory=list)  # the kinds of n8n's next answers (sim/steps.py)
    cause: str = ""  # what the running invocation works on: a queue record's kind, "api" or "schedule"
    made_by: dict[int, str] = field(default_factory=dict)  # chat entry (its index) -> the cause that wrote it
    drained: bool = True
    _calls_left: int | None = None

    # ------------------------------------------------------------------ inputs
    def invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        """Invoke a handler as Lambda does (a fresh context with the function's timeout)."""
        from local.lambda_events import LambdaContext

        timeout = next(f.timeout for f in self.stack.functions() if f.logical_id == function_id)
        context = LambdaContext(function_name=function_id, timeout_seconds=timeout)
        self._calls_left = self.time_out_next.pop(function_id, None)
        self.cause = _cause(event)
        sink = io.StringIO()
        try:
            with redirect_stdout(sink):
                answer = self.handlers[function_id](event, context)
        except LambdaTimedOut:
            from local.caches import reset_caches

            self.invocations.append(Invocation(function_id, self.clock.now, "timed out"))
            reset_caches()  # Lambda replaces a timed-out execution environment: what it held in memory is gone
            raise
        except Exception:  # the invocation failed: the caller sees it as Lambda's caller would
            self.invocations.append(Invocation(function_id, self.clock.now, "raised"))
            raise
        finally:
            self._calls_left, self.cause = None, ""
            self._count_metrics(sink.getvalue())
        failed = bool(isinstance(answer, dict) and answer.get("batchItemFailures"))
        self.invocations.append(Invocation(function_id, self.clock.now, "failed" if failed else "ok"))
        return answer

    def webhook(self, body: str) -> int:
        """Kommo posts a webhook body to the intake; its HTTP status."""
        from local.sam_events import webhook_event

        return int(self._answered("WebhookIntakeFunction", webhook_event(body))["statusCode"])

    def api(self, method: str, path: str, body: Any = None, *, token: str, key: str = "") -> tuple[int, Any]:
        """One bearer request to the HTTP API (`key`: its Idempotency-Key); the status and the JSON answer."""
        from local.lambda_events import http_api_event

        routes = [route for function in self.stack.functions() for route in function.http_routes]
        route = next(route for route in routes if route.method == method and route.pattern.fullmatch(path))
        parameters = route.pattern.fullmatch(path).groupdict()
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        if key:
            headers["idempotency-key"] = key
        event = http_api_event(
            method,
            path,
            route_key=f"{method} {route.path}",
            path_parameters=parameters or None,
            headers=headers,
            body=None if body is None else json.dumps(body),
        )
        answer = self._answered(route.function, event)
        return int(answer["statusCode"]), json.loads(answer.get("body") or "null")

    def _answered(self, function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """An HTTP API invocation's answer: API Gateway's 500 when the function raised."""
        try:
            return dict(self.invoke(function_id, event))
        except Exception:
            return {"statusCode": 500, "body": '{"message": "Internal Server Error"}'}

    def outbound_call(self) -> None:
        """Count one Kommo or n8n call of the running invocation; past its allowance, Lambda stops it."""
        if self._calls_left is None:
            return
        if self._calls_left <= 0:
            raise LambdaTimedOut
        self._calls_left -= 1

    def n8n_answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """n8n's answer: of the kind a step asked for, else the stand-in's; tagged with what it answers
        (the client messages' ids, or the first message's trigger), so the invariants can tell."""
        from local.n8n_standin import meeting_slot

        kind = self.n8n_next.pop(0) if self.n8n_next and request.get("kind") == "reply" else ""
        if request.get("kind") == "proactive":
            tag = f"[first:{(request.get('trigger') or {}).get('kind', '')}]"
        elif request.get("kind") == "follow_up":
            tag = f"[follow-up:{(request.get('follow_up') or {}).get('attempt', '')}]"
        else:
            tag = "[#" + ",".join(message["id"] for message in request.get("messages") or []) + "]"
        reply = "Resposta do assistente"
        made: dict[str, Any] = {  # type: ignore[assignment]
            "text": {"reply": reply},
            "template": {"template": {"name": "retomada_contato", "params": {"nome": tag}}},
            "handover": {"reply": reply, "actions": [{"type": "handover", "reason": "o cliente pediu"}]},
            "schedule": {
                "reply": reply,
                "actions": [{"type": "schedule", "slot": meeting_slot(self.clock.now).isoformat()}],
            },
            **{changes: {"reply": reply, "actions": actions} for changes, actions in N8N_ACTIONS.items()},
        }.get(kind) or STANDIN_ANSWER(request)
        if made.get("reply"):
            made["reply"] = f"{made['reply']} {tag}"
        elif "template" in made:
            made["template"]["params"] = {**made["template"].get("params", {}), "nome": tag}
        return made

    def assistant_messages(self, *causes: str) -> list[tuple[int, dict[str, Any]]]:
        """The assistant's messages in the chats (with their place in the chat record); with `causes`, only
        those written while the service worked on such a queue record ("follow_up", "trigger", ...)."""
        return [
            (index, entry)
            for index, entry in enumerate(self.kommo.chat)
            if entry["from"] == "assistant" and (not causes or self.made_by.get(index) in causes)
        ]

    # ------------------------------------------------------------------ what the service keeps
    def settings_value(self, name: str) -> Any:
        from sales_assistant.config import get_settings

        return getattr(get_settings(), name)

    def first_message_salesperson(self, lead_id: int, before: float) -> int | None:
        """The salesperson a first message to the lead was written for (n8n's last proactive request)."""
        asked = [
            request["body"]
            for request in self.n8n.requests
            if request["body"].get("kind") == "proactive"
            and request["body"]["lead"]["id"] == lead_id
            and request["at"] <= before
        ]
        salesperson = (asked[-1].get("vendor") or {}) if asked else {}
        return int(salesperson["id"]) if salesperson.get("id") else None

    def appointments(self) -> list[dict[str, Any]]:
        """Every appointment the service keeps (a scan of its table)."""
        return [item for item in self._scan("APPOINTMENTS_TABLE") if str(item.get("pk", "")).startswith("appointment#")]

    def kept_leads(self) -> dict[int, dict[str, Any]]:
        """What the service would use now as each lead's state (its conversations' usable snapshots)."""
        from sales_assistant.models.conversation import Conversation

        max_age = self.settings_value("kommo_cache_seconds")
        kept: dict[int, dict[str, Any]] = {}
        for item in self._scan("CONVERSATIONS_TABLE"):
            try:
                conversation = Conversation.model_validate(item)
            except ValueError:
                continue
            contact = conversation.contact_id
            snapshot = conversation.snapshot_for(contact, self.clock.now, max_age) if contact else None
            if snapshot is not None:
                kept[snapshot.lead.id] = snapshot.lead.model_dump()
        return kept

    def _scan(self, variable: str) -> list[dict[str, Any]]:
        import boto3

        table = boto3.resource("dynamodb").Table(os.environ[variable])
        response = table.scan()
        items = list(response["Items"])
        while "LastEvaluatedKey" in response:
            response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
            items += response["Items"]
        return items

    # ------------------------------------------------------------------ time
    def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass, delivering everything that falls due on the way."""
        until = self.clock.now + seconds
        while True:
            self.deliver_due()
            due = self.next_due()
            if due is None or due > until:
                break
            self.clock.advance_to(due)
        self.clock.advance_to(until)
        self.deliver_due()

    def settle(self, limit_seconds: float) -> bool:
        """Advance until every queue is empty (at most `limit_seconds`; schedules fire on the way, and the
        reminders of later days wait); whether it got there."""
        until = self.clock.now + limit_seconds
        while self.clock.now < until:
            self.deliver_due()
            if not self._messages_waiting() and self.echoes.next_at() is None:
                return True
            due = min((at for at in (self._next_message(), self.echoes.next_at()) if at is not None), default=None)
            if due is None:
                return False  # messages wait that nothing will ever make visible
            self.clock.advance_to(min(due, until))
            self._fire_rate_schedules()
        return not self._messages_waiting()

    def deliver_due(self) -> None:
        """Deliver every message visible now and fire every schedule due now, until nothing more is."""
        while self._post_echoes() or self._deliver_one_round() or self._fire_rate_schedules() or self._fire_one_time():
            pass

    def next_due(self) -> float | None:
        """When the next thing happens: a message becomes visible, or a schedule fires."""
        moments = (self._next_message_or_one_time(), self.echoes.next_at(), *self.next_fire.values())
        candidates = [due for due in moments if due is not None]
        return min(candidates) if candidates else None

    # ------------------------------------------------------------------ queues and schedules
    def _post_echoes(self) -> bool:
        """Kommo posts the echoes of the service's own changes that are due."""
        due = self.echoes.take_due(self.clock.now)
        for body in due:
            self.webhook(body)
        return bool(due)

    def _deliver_one_round(self) -> bool:
        from local.sqs_pump import deliver_batch, receive

        delivered = False
        for queue_id, function_id in self.consumers.items():
            url, arn = self.stack.physical_ids[queue_id], self.stack.arns[queue_id]
            if not _has_visible(url) or not (messages := receive(self.sqs, url, batch_size=1)):
                continue
            delivered = True
            with suppress(LambdaTimedOut):  # it reported nothing: the record comes back after the visibility timeout
                deliver_batch(self.sqs, partial(self.invoke, function_id), url, arn, messages)
        return delivered

    def _fire_rate_schedules(self) -> bool:
        from local.lambda_events import schedule_event

        fired = False
        for function_id, every in self.rate_schedules:
            key = f"{function_id}/{every}"
            if self.next_fire[key] <= self.clock.now:
                self.next_fire[key] = self.clock.now + every
                with suppress(Exception):  # a failed run: the next one comes at the schedule's rate
                    self.invoke(function_id, schedule_event(key))
                fired = True
        return fired

    def _fire_one_time(self) -> bool:
        from local.one_time_schedules import fire_due

        return bool(self._one_time_due() is not None and fire_due(self.stack, self.scheduler, self.sqs, self.clock.now))

    def _one_time_due(self) -> float | None:
        due = min(self._one_time_moments(), default=None)
        return due if due is not None and due <= self.clock.now else None

    def _next_message_or_one_time(self) -> float | None:
        moments = [self._next_message(), *(at for at in self._one_time_moments() if at > self.clock.now)]
        return min((moment for moment in moments if moment is not None), default=None)

    def _next_message(self) -> float | None:
        """When the next message of a consumed queue becomes visible (a message visible now but held back
        behind its FIFO group's in-flight one is not: that one's return is)."""
        moments = [max(m.visible_at, m.delayed_until) / 1000 + 0.001 for m in self._consumed_messages()]
        return min((moment for moment in moments if moment > self.clock.now), default=None)

    def _messages_waiting(self) -> int:
        return len(self._consumed_messages())

    def _consumed_messages(self) -> list[Any]:
        """The messages of the consumed queues (read from moto's backend: no API call)."""
        from moto.sqs.models import sqs_backends

        queues = sqs_backends[ACCOUNT][REGION].queues
        names = {self.stack.physical_ids[queue_id].rsplit("/", 1)[-1] for queue_id in self.consumers}
        return [message for name in names for message in queues[name]._messages]

    def _one_time_moments(self) -> list[float]:
        from moto.scheduler.models import scheduler_backends

        from local.one_time_schedules import _due_at

        return [
            _due_at(
                {
                    "ScheduleExpression": s.schedule_expression,
                    "ScheduleExpressionTimezone": s.schedule_expression_timezone,
                }
            )
            for group in scheduler_backends[ACCOUNT][REGION].schedule_groups.values()
            for s in group.schedules.values()
        ]

    def dead_letters(self) -> dict[str, int]:
        """Messages in each dead-letter queue."""
        from moto.sqs.models import sqs_backends

        return {
            name: len(queue._messages)
            for name, queue in sqs_backends[ACCOUNT][REGION].queues.items()
            if "dlq" in name.lower() and queue._messages
        }

    def _count_metrics(self, printed: str) -> None:
        """Count the metrics the invocation emitted (Powertools' EMF lines on stdout)."""
        for line in printed.splitlines():
            if '"_aws"' not in line:
                continue
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob.get(metric["Name"], 0)
                    self.metrics[metric["Name"]] += sum(value) if isinstance(value, list) else value


@contextmanager
def open_world(seed: int, start: float, lead_count: int = 10, **settings: str) -> Iterator[SimWorld]:
    """Build the world of `seed` at virtual time `start` (unix s) with `lead_count` leads; `settings`
    override the environment."""
    import boto3
    from moto import mock_aws

    from local.caches import reset_caches
    from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS, create_local_stack
    from local.kommo_sandbox import KommoSandbox
    from local.n8n_standin import N8nStandIn

    clock, hosts = VirtualClock(start), InProcessHosts()
    saved_environment = dict(os.environ)
    with ExitStack() as running:
        running.callback(_restore_environment, saved_environment)
        running.enter_context(clock.installed())
        running.enter_context(mock_aws())
        running.enter_context(hosts.installed())  # after moto's own patch of requests, so it comes first
        random.seed(seed)
        os.environ.update(AWS_ENVIRONMENT)
        stack = create_local_stack(boto3.session.Session())
        stack.parameters.update(SCHEDULES)
        kommo = KommoSandbox()
        n8n = N8nStandIn(secret=LOCAL_SECRETS["N8N_SIGNING_SECRET"])
        team = SimTeam.draw(random.Random(seed), lead_count)  # noqa: S311 - a replayable world, not a secret
        team.install(kommo, stack)
        qualification = {name: kommo.add_lead_field(*made) for name, made in QUALIFICATION_FIELDS.items()}
        os.environ.update(
            {**stack.environment(), **SETTINGS, "QUALIFICATION_FIELDS": json.dumps(qualification), **settings}
        )
        reset_caches()
        world = SimWorld(clock, hosts, stack, kommo, n8n, team, boto3.client("sqs"), boto3.client("scheduler"))
        _wire(world)
        running.enter_context(_patched(n8n_standin, "answer", world.n8n_answer))
        running.callback(reset_caches)
        yield world


@contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def _wire(world: SimWorld) -> None:
    """Hosts, handlers, queue consumers and rate schedules, from template.yaml."""

    def counted(answer: Any) -> Any:
        def call(method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
            world.outbound_call()
            return answer(method, target, headers, body)

        return call

    def kommo(method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        before, runs, said = lead_states(world.kommo), len(world.kommo.salesbot_runs), len(world.kommo.chat)
        answer = world.kommo._http(method, target, headers, body)
        world.echoes.after_call(world.kommo, method, target, before, runs)
        world.made_by |= dict.fromkeys(range(said, len(world.kommo.chat)), world.cause)
        return answer

    world.hosts.serve(KOMMO_HOST, counted(kommo))
    world.hosts.serve(N8N_HOST, counted(world.n8n._http))
    for function in world.stack.functions():
        world.handlers[function.logical_id] = function.load_handler()
        for queue_id, _batch in function.sqs_sources:
            world.consumers[queue_id] = function.logical_id
        events = world.stack.resources[function.logical_id]["Properties"].get("Events", {})
        for event in events.values():
            if event["Type"] != "Schedule":
                continue
            expression = str(world.stack.resolve(event["Properties"]["Schedule"]))
            match = RATE.fullmatch(expression)
            if match:
                every = int(match.group(1)) * (3600 if match.group(2).startswith("hour") else 60)
                world.rate_schedules.append((function.logical_id, every))
                world.next_fire[f"{function.logical_id}/{every}"] = world.clock.now + every


def _cause(event: dict[str, Any]) -> str:
    """What an invocation works on: its queue record's kind ("follow_up", "flush_due", ...), else "api" or
    "schedule"."""
    records = event.get("Records") or []
    if records:
        try:
            return str(json.loads(records[0]["body"]).get("kind", "record"))
        except (ValueError, AttributeError):
            return "record"
    return "api" if "requestContext" in event else "schedule"


def _has_visible(queue_url: str) -> bool:
    """Whether a queue holds a message visible now (read from moto's backend: no API call)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues[queue_url.rsplit("/", 1)[-1]]
    return any(message.visible and not message.delayed for message in queue._messages)
