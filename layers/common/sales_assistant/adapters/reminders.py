"""Appointment reminders as EventBridge Scheduler one-time schedules.

One schedule per appointment and offset (`<appointment id>-<minutes>`), in the stack's schedule group; at
its time it puts an `appointment_reminder` item on the scheduling queue (so a reminder is retried and
dead-lettered like every follow-up) and deletes itself. One more per appointment (`<appointment id>-over`),
the no-show grace period after its end, puts an `appointment_over` item (the meeting counts held unless
marked missed). Booking creates them, a reschedule moves them, a cancellation removes them.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from sales_assistant.adapters.aws import scheduler_client
from sales_assistant.models.appointment import Appointment
from sales_assistant.models.queue import AppointmentOverDue, AppointmentReminderDue

LEAD_SECONDS = 60  # a reminder due sooner than this is not scheduled
OVER = "over"  # the suffix of the schedule that fires once the meeting's no-show grace period is over


class SchedulerReminders:
    """Creates, moves and deletes an appointment's reminder schedules and its `over` schedule."""

    def __init__(self, group: str, queue_arn: str, role_arn: str, offsets: tuple[int, ...], grace_seconds: int) -> None:
        """`grace_seconds`: how long after its end a meeting not marked missed counts held."""
        self._group = group
        self._queue_arn = queue_arn
        self._role_arn = role_arn
        self._offsets = offsets
        self._grace_seconds = grace_seconds

    def set(self, appointment: Appointment, now: int) -> list[int]:
        """Schedule (or move) the appointment's reminders and its `over` schedule; returns the reminders' unix
        times. Offsets already past are removed."""
        over = AppointmentOverDue(appointment_id=appointment.appointment_id, version=appointment.version)
        over_at = max(appointment.end + self._grace_seconds, now + LEAD_SECONDS)
        self._put(schedule_name(appointment.appointment_id, OVER), over_at, over.model_dump_json())
        due = []
        for minutes in self._offsets:
            at = appointment.start - minutes * 60
            if at < now + LEAD_SECONDS:
                self._delete(schedule_name(appointment.appointment_id, minutes))
                continue
            item = AppointmentReminderDue(
                appointment_id=appointment.appointment_id, version=appointment.version, minutes_before=minutes
            )
            self._put(schedule_name(appointment.appointment_id, minutes), at, item.model_dump_json())
            due.append(at)
        return due

    def remove(self, appointment_id: str) -> None:
        """Delete the appointment's reminders and its `over` schedule (those that exist)."""
        for minutes in self._offsets:
            self._delete(schedule_name(appointment_id, minutes))
        self._delete(schedule_name(appointment_id, OVER))

    def _put(self, name: str, at: int, body: str) -> None:
        request = {
            "Name": name,
            "GroupName": self._group,
            "ScheduleExpression": f"at({datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": self._queue_arn, "RoleArn": self._role_arn, "Input": body},
            "ActionAfterCompletion": "DELETE",
        }
        client = scheduler_client()
        try:
            client.create_schedule(**request)
        except client.exceptions.ConflictException:
            client.update_schedule(**request)

    def _delete(self, name: str) -> None:
        client = scheduler_client()
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_schedule(Name=name, GroupName=self._group)


def schedule_name(appointment_id: str, suffix: int | str) -> str:
    """The schedule of one reminder (`suffix`: its minutes before) or of the meeting's end (OVER), at most 64
    characters of [0-9a-zA-Z-_.]."""
    return f"{appointment_id}-{suffix}"[:64]
