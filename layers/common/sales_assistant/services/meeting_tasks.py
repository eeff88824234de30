"""The salesperson's one Kommo meeting task per appointment: created by its first follow-up, moved with each
reschedule, completed with the reason on cancellation; each change once per appointment version."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sales_assistant.errors import NotFound
from sales_assistant.models.appointment import Appointment, Slot
from sales_assistant.models.salesperson import Salesperson
from sales_assistant.observability import logger
from sales_assistant.services.ports.kommo import KommoTasks
from sales_assistant.services.ports.storage import Agenda, Once
from sales_assistant.texts import Texts

MEETING_TASK_TYPE = 2  # Kommo's task type "meeting"


class MeetingTasks:
    """Keeps each appointment's meeting task in Kommo in step with the appointment."""

    def __init__(self, kommo: KommoTasks, agenda: Agenda, once: Once, texts: Texts) -> None:
        self._kommo = kommo
        self._agenda = agenda
        self._once = once
        self._texts = texts

    def keep(self, appointment: Appointment, lead_id: int, key: str) -> None:
        """The salesperson's one meeting task for the appointment: created by its first follow-up, then
        moved to each new start (once per version)."""
        text = self._texts.render("task_meeting", **appointment_values(appointment, None))
        seconds = appointment.end - appointment.start
        create = partial(
            self._kommo.add_task,
            lead_id,
            appointment.vendor_id,
            text,
            appointment.start,
            task_type_id=MEETING_TASK_TYPE,
            duration=seconds,
        )
        task_id = self._task_id(appointment.appointment_id, create)
        if task_id and appointment.version > 1:
            move = partial(self._kommo.move_task, task_id, appointment.start, seconds, text)
            self._change_task("moved", key, move)

    def complete(self, appointment: Appointment, key: str) -> None:
        """The cancelled appointment's meeting task completed, with why (none is created after this)."""
        task_id = self._task_id(appointment.appointment_id, None)
        if task_id:
            result = self._texts.render("task_meeting_cancelled", **appointment_values(appointment, None))
            self._change_task("completed", key, partial(self._kommo.complete_task, task_id, result))

    def _task_id(self, appointment_id: str, create: Callable[[], int] | None) -> int | None:
        """The appointment's meeting task, kept with the agenda (a reschedule may come weeks later, after
        the idempotency records are gone). Without one: created once per appointment by `create`, or, with
        `create` None (a cancellation), recorded as never to be, so a late booking follow-up creates none."""
        task_id = self._agenda.meeting_task(appointment_id)
        if task_id is None:
            made = self._once("meeting-task", appointment_id, lambda: {"task_id": create() if create else None})
            task_id = made["task_id"]
            if task_id:
                self._agenda.keep_meeting_task(appointment_id, task_id)
        return task_id

    def _change_task(self, change: str, key: str, call: Callable[[], None]) -> None:
        """A change of the meeting task, once per appointment version; a task someone deleted in Kommo
        is left alone."""

        def once() -> dict[str, bool]:
            try:
                call()
            except NotFound:
                logger.warning("meeting task not found in Kommo", extra={"change": change, "appointment": key})
                return {"found": False}
            return {"found": True}

        self._once(f"meeting-task-{change}", key, once)


def appointment_values(appointment: Appointment, salesperson: Salesperson | None) -> dict[str, object]:
    """An appointment's values for the pt-BR texts (notes, tasks, messages): date, hour, zone, minutes,
    salesperson."""
    start = Slot.of(appointment.start, appointment.end, appointment.timezone).start
    return {
        "data": f"{start:%d/%m/%Y}",
        "hora": f"{start:%H:%M}",
        "fuso": appointment.timezone,
        "minutos": (appointment.end - appointment.start) // 60,
        "vendedor": (salesperson.name if salesperson else "") or "nosso consultor",
        "id": appointment.appointment_id,
    }
