"""EventBridge Scheduler's one-time schedules, fired locally: moto stores the schedules the code creates
(appointment reminders) but never fires them. `fire_due` does what the Scheduler would at their time:
send the target's input to its SQS queue, then delete the schedule (ActionAfterCompletion DELETE).
The local run calls it every second; tests call it with a clock of their own."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from local.stack import Stack


def fire_due(stack: Stack, scheduler: Any, sqs: Any, now: float | None = None) -> list[str]:
    """Fire every one-time schedule of the stack's schedule groups that is due at `now`; returns their names."""
    now = time.time() if now is None else now
    queue_urls = {arn: stack.physical_ids[logical_id] for logical_id, arn in stack.arns.items() if ":sqs:" in arn}
    fired = []
    for logical_id, resource in stack.resources.items():
        if resource["Type"] != "AWS::Scheduler::ScheduleGroup":
            continue
        group = stack.names[logical_id]
        for summary in scheduler.list_schedules(GroupName=group).get("Schedules", []):
            schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
            if _due_at(schedule) > now:
                continue
            target = schedule["Target"]
            sqs.send_message(QueueUrl=queue_urls[target["Arn"]], MessageBody=target.get("Input", "{}"))
            scheduler.delete_schedule(Name=summary["Name"], GroupName=group)
            fired.append(summary["Name"])
    return fired


def _due_at(schedule: dict[str, Any]) -> float:
    """When an `at(...)` schedule fires (UTC); other expressions never do here."""
    expression = schedule["ScheduleExpression"]
    if not expression.startswith("at(") or schedule.get("ScheduleExpressionTimezone", "UTC") != "UTC":
        return float("inf")
    return datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC).timestamp()
