"""The canary: is the service able to work right now, and did Kommo get messages the service never saw?

Every run (a schedule, every 5 minutes) checks, each on its own:
- `breakers`: no dependency's circuit breaker (adapters/breaker.py) has stayed open for over 5 minutes;
- `kommo_token`: a cheap authenticated Kommo call (the account) answers;
- `n8n`: the health workflow answers a signed ping;
- `kommo_webhook`: Kommo has a webhook to this service's URL and has not disabled it;
- `queues`: no queue has had messages waiting for longer than the limit (first seen non-empty by an
  earlier run and non-empty at every run since);
- `message_watchdog`: Kommo's feed of incoming chat messages since the last run could be read; a message
  older than the grace period that the intake never received is reported once (metric, a note on the
  lead, a task for its salesperson).
The report (without secrets) is stored for GET /health and for the next run (its cursors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sales_assistant import timing
from sales_assistant.errors import AppError
from sales_assistant.models import Model
from sales_assistant.models.kommo import KommoEvent
from sales_assistant.observability import MetricUnit, count, logger, measure
from sales_assistant.services.ports.kommo import KommoAccount, LeadNotes
from sales_assistant.services.ports.n8n import AiFailure, AiPing
from sales_assistant.services.ports.storage import HealthReports, ReceivedMessages
from sales_assistant.texts import Texts

CHECKS = ("breakers", "kommo_token", "n8n", "kommo_webhook", "queues", "message_watchdog")
BREAKER_OPEN_ALARM_SECONDS = 300
FIRST_LOOKBACK_SECONDS = 900  # the first run judges the last 15 minutes
MAX_LOOKBACK_SECONDS = 86400  # after a long outage, one day back at most (the received markers live 2 days)
NOTES_ZONE = ZoneInfo("America/Sao_Paulo")


class CheckResult(Model):
    """One check's outcome; `detail` names a reason, never a secret."""

    name: str
    ok: bool
    detail: str = ""


class HealthReport(Model):
    """One run's results, plus what the next run needs (when each queue was first seen waiting, and
    where the watchdog stopped)."""

    checked_at: int
    checks: list[CheckResult]
    missed_messages: int = 0
    bots_paused: int = 0
    backlog_since: dict[str, int] = {}
    watchdog_until: int = 0

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(frozen=True)
class HealthConfig:
    n8n_health_path: str
    webhook_base_url: str
    queue_max_age_seconds: int
    watchdog_grace_seconds: int


@dataclass
class HealthCanary:
    """Runs the checks and the watchdog with the adapters it is given."""

    kommo: KommoAccount
    ai: AiPing
    store: HealthReports
    received: ReceivedMessages
    notes: LeadNotes
    queue_depths: Callable[[], dict[str, int]]
    paused_bots: Callable[[], int]
    breakers: Callable[[], dict[str, dict[str, int]]]  # dependency -> its breaker's status
    texts: Texts
    config: HealthConfig
    clock: Callable[[], float] = timing.now

    def run(self) -> HealthReport:
        """Run every check, emit one metric per check (HealthCheckFailed, 0 or 1, dimension `check`) and
        store the report."""
        now = int(self.clock())
        previous = self.store.load()
        queues, backlog_since = self._queues(now, previous.backlog_since if previous else {})
        watchdog, missed, watchdog_until = self._watchdog(now, previous.watchdog_until if previous else 0)
        checks = [
            _guarded("breakers", self._breakers),
            _guarded("kommo_token", self._kommo_token),
            _guarded("n8n", self._n8n),
            _guarded("kommo_webhook", self._kommo_webhook),
            queues,
            watchdog,
        ]
        report = HealthReport(
            checked_at=now,
            checks=checks,
            missed_messages=missed,
            bots_paused=self.paused_bots(),
            backlog_since=backlog_since,
            watchdog_until=watchdog_until,
        )
        for check in checks:
            count("HealthCheckFailed", 0 if check.ok else 1, check=check.name)
        measure("BotsPaused", report.bots_paused, MetricUnit.Count)
        self.store.save(report)
        logger.info("health checked", extra={"failed": [check.name for check in checks if not check.ok]})
        return report

    # ------------------------------------------------------------------ the checks
    def _breakers(self) -> str:
        now = self.clock()
        states = self.breakers()
        stuck = [
            f"{name} open since {datetime.fromtimestamp(state['open_since'], NOTES_ZONE):%H:%M}"
            for name, state in states.items()
            if state["open"] and now - state["open_since"] > BREAKER_OPEN_ALARM_SECONDS
        ]
        if stuck:
            raise CheckFailed("; ".join(stuck) + ": records wait for it (docs/runbook.md)")
        return ", ".join(f"{name} {'open' if state['open'] else 'closed'}" for name, state in states.items())

    def _kommo_token(self) -> str:
        self.kommo.account()
        return "answered"

    def _n8n(self) -> str:
        self.ai.ping(self.config.n8n_health_path)
        return "answered"

    def _kommo_webhook(self) -> str:
        prefix = self.config.webhook_base_url.rstrip("/") + "/webhooks/kommo/"
        ours = [hook for hook in self.kommo.webhooks() if str(hook.get("destination", "")).startswith(prefix)]
        if not ours:
            raise CheckFailed(f"no Kommo webhook to {prefix}...")
        if any(hook.get("disabled") for hook in ours):
            raise CheckFailed("disabled by Kommo: re-enable it (docs/runbook.md)")
        return "registered and enabled"

    def _queues(self, now: int, since: dict[str, int]) -> tuple[CheckResult, dict[str, int]]:
        """A queue waiting (visible messages) at this run and every run since it was first seen waiting."""
        try:
            depths = self.queue_depths()
        except Exception as error:  # reported as a failed check, never raised
            return CheckResult(name="queues", ok=False, detail=_reason(error)), since
        waiting = {name: since.get(name, now) for name, depth in depths.items() if depth > 0}
        late = sorted(name for name, first in waiting.items() if now - first > self.config.queue_max_age_seconds)
        if late:
            detail = "waiting for over {} s: {}".format(self.config.queue_max_age_seconds, ", ".join(late))
            return CheckResult(name="queues", ok=False, detail=detail), waiting
        return CheckResult(name="queues", ok=True, detail=f"messages waiting: {sum(depths.values())}"), waiting

    # ------------------------------------------------------------------ the watchdog
    def _watchdog(self, now: int, judged_until: int) -> tuple[CheckResult, int, int]:
        """Judge Kommo's incoming chat messages from where the last run stopped up to the grace period;
        returns the check, how many were missed, and where this run stopped."""
        until = now - self.config.watchdog_grace_seconds
        start = max(judged_until or until - FIRST_LOOKBACK_SECONDS, until - MAX_LOOKBACK_SECONDS)
        if start >= until:
            return CheckResult(name="message_watchdog", ok=True, detail="nothing to judge yet"), 0, judged_until
        try:
            judged: dict[str, KommoEvent] = {}
            for event in self.kommo.events_since(start):
                if event.message_id and start <= event.created_at < until:
                    judged[event.message_id] = event
            missing = self.received.missing(judged)
            for message_id in sorted(missing):
                self._report_missed(message_id, judged[message_id])
        except Exception as error:  # the cursor stays: the next run judges this span again
            return CheckResult(name="message_watchdog", ok=False, detail=_reason(error)), 0, judged_until
        detail = f"{len(judged)} messages judged, {len(missing)} never received"
        return CheckResult(name="message_watchdog", ok=True, detail=detail), len(missing), until

    def _report_missed(self, message_id: str, event: KommoEvent) -> None:
        """Once per message: a metric, a note on the lead and a task for its salesperson; then the message
        counts as received, so no later run reports it again."""
        lead_ids = [event.entity_id] if event.entity_type == "lead" else self.kommo.contact_lead_ids(event.entity_id)
        logger.warning("message never received", extra={"message_id": message_id, "leads": len(lead_ids)})
        if lead_ids:
            lead = self.kommo.lead(max(lead_ids))  # the contact's newest lead
            when = datetime.fromtimestamp(event.created_at, NOTES_ZONE).strftime("%d/%m/%Y %H:%M")
            key = f"missed:{message_id}"
            self.notes.note(key, lead.id, self.texts.render("note_message_missed", when=when), service=True)
            self.notes.task(
                key, lead.id, lead.responsible_user_id or 0, self.texts.render("task_message_missed", when=when)
            )
        count("MessagesMissed")
        self.received.mark([message_id], missed=True)


class CheckFailed(Exception):
    """A check ran and found something wrong; the message says what."""


def _guarded(name: str, check: Callable[[], str]) -> CheckResult:
    """Run one check: its detail when it passes, the reason (no secret) when it fails."""
    try:
        return CheckResult(name=name, ok=True, detail=check())
    except (CheckFailed, AppError, AiFailure) as error:
        return CheckResult(name=name, ok=False, detail=_reason(error))


def _reason(error: Exception) -> str:
    """What failed, in words an on-call person can act on: the check's message, the AI's reason, or
    the error's code (a Kommo error's message may quote Kommo's answer, so only its code and status)."""
    if isinstance(error, CheckFailed):
        return str(error)
    if isinstance(error, AiFailure):
        return error.reason
    status = getattr(error, "kommo_status", 0)
    code = getattr(error, "code", type(error).__name__)
    return f"{code} (HTTP {status})" if status else str(code)
