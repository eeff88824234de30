"""Appointments and holds in DynamoDB (the appointments table, docs/architecture.md "Scheduling").

Items (pk, sk):
- `agenda#<vendor>`, `<grain start>`: one per occupied 5-minute grain of a salesperson's agenda, with its
  `owner` (appointment or hold id), `kind`, `lead_id` and, for a hold, `expires_at` (TTL).
- `appointment#<id>`, `-`: the appointment; `hold#<id>`, `-`: the hold; `booking-key#<key>`, `-`: a
  client's idempotency key, the appointment it booked and the start it asked for (a key whose
  appointment was cancelled moves to the one it books next); `meeting-task#<id>`, `-`: the Kommo
  meeting task of an appointment (its follow-ups move it and complete it, weeks later maybe).
- `lead#<lead>`, `hold`: the lead's latest hold (a lead keeps one live hold at a time); `lead#<lead>`,
  `appointments`: the appointments booked for the lead (LeadAppointments, written with a version), so
  that a lead has at most LEAD_APPOINTMENTS_MAX still to come.

Every change is one TransactWriteItems: the grains are written only where absent (or an expired hold,
or this lead's own hold), so two overlapping bookings can never both commit. A reschedule writes the new
grains, deletes the old ones and updates the appointment in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sales_assistant.adapters.aws import dynamodb_client, dynamodb_table, plain
from sales_assistant.models.appointment import Appointment, BookingKey, Hold, LeadAppointments
from sales_assistant.services.availability import Interval, grains
from sales_assistant.services.booking_conflicts import ChangedMeanwhile, KeyUsed, SlotTaken

MAX_TRANSACTION_ITEMS = 100
FREE_OR_MINE = "attribute_not_exists(pk) OR (#kind = :hold AND (expires_at < :now OR lead_id = :lead))"


class DynamoAgenda:
    """The agenda repository of the scheduling service."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    # ------------------------------------------------------------------ reads
    def busy(self, vendor_id: int, start: int, end: int, now: int, lead_id: int | None = None) -> set[int]:
        """Grains occupied between `start` and `end` by appointments and live holds (a lead's own holds
        do not count for that lead)."""
        busy: set[int] = set()
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":pk": _agenda(vendor_id), ":from": _sk(start), ":to": _sk(end)},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**request)
            for item in page.get("Items", []):
                grain = plain(item)
                if grain["kind"] == "hold" and (grain["expires_at"] < now or grain["lead_id"] == lead_id):
                    continue
                busy.add(int(grain["sk"]))
            if "LastEvaluatedKey" not in page:
                return busy
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, appointment_id: str) -> Appointment | None:
        item = self._table.get_item(Key={"pk": f"appointment#{appointment_id}", "sk": "-"}, ConsistentRead=True)
        return Appointment.model_validate(plain(item["Item"])) if "Item" in item else None

    def hold(self, hold_id: str) -> Hold | None:
        item = self._table.get_item(Key={"pk": f"hold#{hold_id}", "sk": "-"}, ConsistentRead=True)
        return Hold.model_validate(plain(item["Item"])) if "Item" in item else None

    def lead_hold(self, lead_id: int) -> Hold | None:
        """The lead's latest hold (live, lapsed or booked)."""
        item = self._table.get_item(Key={"pk": _lead(lead_id), "sk": "hold"}, ConsistentRead=True).get("Item")
        return Hold.model_validate(plain(item)) if item else None

    def lead_appointments(self, lead_id: int) -> LeadAppointments:
        """The appointments booked for the lead, as recorded (version 0: none yet)."""
        item = self._table.get_item(Key={"pk": _lead(lead_id), "sk": "appointments"}, ConsistentRead=True).get("Item")
        return LeadAppointments.model_validate(plain(item)) if item else LeadAppointments(lead_id=lead_id)

    def booked_with(self, key: str) -> BookingKey | None:
        """The appointment an idempotency key booked, and the start it asked for."""
        item = self._table.get_item(Key={"pk": f"booking-key#{key}", "sk": "-"}, ConsistentRead=True).get("Item")
        return BookingKey.model_validate(plain(item)) if item else None

    def meeting_task(self, appointment_id: str) -> int | None:
        """The id of the appointment's meeting task in Kommo, once kept."""
        item = self._table.get_item(Key={"pk": f"meeting-task#{appointment_id}", "sk": "-"}, ConsistentRead=True)
        return int(item["Item"]["task_id"]) if "Item" in item else None

    def keep_meeting_task(self, appointment_id: str, task_id: int) -> None:
        """Remember the appointment's meeting task (the same id again changes nothing)."""
        self._table.put_item(Item={"pk": f"meeting-task#{appointment_id}", "sk": "-", "task_id": task_id})

    # ------------------------------------------------------------------ writes
    def add_hold(self, hold: Hold, now: int, previous: Hold | None = None) -> None:
        """Occupy the hold's grains until it expires and make it the lead's latest hold, in place of
        `previous`, the one read before (raises SlotTaken, or ChangedMeanwhile when the lead held another
        slot meanwhile)."""
        interval = Interval(hold.start, hold.end, hold.occupied_until)
        occupy = self._occupy(hold.vendor_id, interval, hold.hold_id, "hold", hold.lead_id, now, hold.expires_at)
        record = {"pk": f"hold#{hold.hold_id}", "sk": "-", **hold.model_dump()}
        latest = {"pk": _lead(hold.lead_id), "sk": "hold", **hold.model_dump()}
        if previous is None:
            replace = self._put(latest, "attribute_not_exists(pk)")
        else:
            replace = self._put(latest, "hold_id = :previous", {":previous": previous.hold_id})
        self._transact([*occupy, self._put(record, "attribute_not_exists(pk)"), replace], owned=False)

    def book(
        self,
        appointment: Appointment,
        now: int,
        replacing: str | None = None,
        lead: LeadAppointments | None = None,
        hold_booked: bool = False,
    ) -> None:
        """Write the appointment and its grains, add it to the lead's appointments (`lead`, as read: none
        recorded when None) and point its idempotency key at it: a new key, or one that still points at the
        cancelled appointment `replacing`. `hold_booked`: the lead's live hold became this appointment, so
        the lead holds nothing any more. Raises SlotTaken, ChangedMeanwhile when the lead's appointments
        changed since read, or KeyUsed when the key booked another appointment meanwhile."""
        interval = Interval(appointment.start, appointment.end, appointment.occupied_until)
        items = self._occupy(
            appointment.vendor_id, interval, appointment.appointment_id, "appointment", appointment.lead_id, now
        )
        items.append(self._put(_record(appointment), "attribute_not_exists(pk)"))
        items.append(self._lead_appointments(lead or LeadAppointments(lead_id=appointment.lead_id), appointment))
        if hold_booked:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table_name,
                        "Key": _typed({"pk": _lead(appointment.lead_id), "sk": "hold"}),
                    }
                }
            )
        if appointment.idempotency_key:
            key_item = {
                "pk": f"booking-key#{appointment.idempotency_key}",
                "sk": "-",
                **BookingKey(appointment_id=appointment.appointment_id, start=appointment.start).model_dump(),
            }
            if replacing:
                items.append(self._put(key_item, "appointment_id = :replaced", {":replaced": replacing}))
            else:
                items.append(self._put(key_item, "attribute_not_exists(pk)"))
        try:
            self._transact(items, owned=False)
        except (SlotTaken, ChangedMeanwhile):
            used = appointment.idempotency_key and self.booked_with(appointment.idempotency_key)
            if used and used.appointment_id != replacing:
                raise KeyUsed(used) from None
            raise

    def cancel(self, appointment: Appointment, cancelled: Appointment) -> None:
        """Free the appointment's grains and record it cancelled (raises ChangedMeanwhile)."""
        interval = Interval(appointment.start, appointment.end, appointment.occupied_until)
        items = self._free(appointment.vendor_id, set(interval.grains), appointment.appointment_id)
        items.append(self._replace(appointment, cancelled))
        self._transact(items, owned=True)

    def move(self, appointment: Appointment, moved: Appointment, now: int) -> None:
        """Occupy the new interval and free the old one in one transaction (raises SlotTaken or
        ChangedMeanwhile; on either, nothing changed)."""
        old = set(grains(appointment.start, appointment.occupied_until))
        new = set(grains(moved.start, moved.occupied_until))
        items = [
            self._put(
                _grain(moved.vendor_id, grain, moved.appointment_id, "appointment", moved.lead_id),
                FREE_OR_MINE,
                {":hold": "hold", ":now": now, ":lead": moved.lead_id},
            )
            for grain in sorted(new - old)
        ]
        items += self._free(appointment.vendor_id, old - new, appointment.appointment_id)
        items.append(self._replace(appointment, moved))
        self._transact(items, owned=False)

    # ------------------------------------------------------------------ transaction pieces
    def _occupy(
        self,
        vendor_id: int,
        interval: Interval,
        owner: str,
        kind: str,
        lead_id: int,
        now: int,
        expires_at: int | None = None,
    ) -> list[dict[str, Any]]:
        values = {":hold": "hold", ":now": now, ":lead": lead_id}
        return [
            self._put(_grain(vendor_id, grain, owner, kind, lead_id, expires_at), FREE_OR_MINE, values)
            for grain in interval.grains
        ]

    def _free(self, vendor_id: int, grain_starts: set[int], owner: str) -> list[dict[str, Any]]:
        return [
            {
                "Delete": {
                    "TableName": self._table_name,
                    "Key": _typed({"pk": _agenda(vendor_id), "sk": _sk(grain)}),
                    "ConditionExpression": "#owner = :owner",
                    "ExpressionAttributeNames": {"#owner": "owner"},
                    "ExpressionAttributeValues": _typed({":owner": owner}),
                }
            }
            for grain in sorted(grain_starts)
        ]

    def _lead_appointments(self, lead: LeadAppointments, appointment: Appointment) -> dict[str, Any]:
        """The lead's appointments with `appointment` added, written only if unchanged since read."""
        item = {
            "pk": _lead(lead.lead_id),
            "sk": "appointments",
            "lead_id": lead.lead_id,
            "appointment_ids": [*lead.appointment_ids, appointment.appointment_id],
            "version": lead.version + 1,
        }
        if lead.version == 0:
            return self._put(item, "attribute_not_exists(pk)")
        return self._put(item, "version = :seen", {":seen": lead.version})

    def _replace(self, current: Appointment, changed: Appointment) -> dict[str, Any]:
        return self._put(
            _record(changed), "version = :seen AND #status = :booked", {":seen": current.version, ":booked": "booked"}
        )

    def _put(self, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table_name, "Item": _typed(item), "ConditionExpression": condition}
        names = {f"#{name}": name for name in ("kind", "status") if f"#{name}" in condition}
        if names:
            put["ExpressionAttributeNames"] = names
        if values:
            put["ExpressionAttributeValues"] = _typed(values)
        return {"Put": put}

    def _transact(self, items: list[dict[str, Any]], *, owned: bool) -> None:
        """One TransactWriteItems; a failed condition on a grain is SlotTaken, on the appointment or the
        lead's records ChangedMeanwhile (`owned`: every condition guards what the appointment holds)."""
        if len(items) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit")
        try:
            dynamodb_client().transact_write_items(TransactItems=items)
        except Exception as error:
            reasons = getattr(error, "response", {}).get("CancellationReasons") or []
            failed = [index for index, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
            if not failed:
                raise
            if owned or any(_is_record(items[index]) for index in failed):
                raise ChangedMeanwhile() from None
            raise SlotTaken() from None


def _agenda(vendor_id: int) -> str:
    return f"agenda#{vendor_id}"


def _lead(lead_id: int) -> str:
    return f"lead#{lead_id}"


def _sk(grain: int) -> str:
    return f"{grain:012d}"


def _grain(vendor_id: int, grain: int, owner: str, kind: str, lead_id: int, expires_at: int | None = None) -> dict:
    item: dict[str, Any] = {"pk": _agenda(vendor_id), "sk": _sk(grain), "owner": owner, "kind": kind}
    item["lead_id"] = lead_id
    if expires_at is not None:
        item["expires_at"] = expires_at
    return item


def _record(appointment: Appointment) -> dict[str, Any]:
    return {"pk": f"appointment#{appointment.appointment_id}", "sk": "-", **appointment.model_dump(exclude_none=True)}


def _is_record(item: dict[str, Any]) -> bool:
    operation = item.get("Put") or item.get("Delete") or {}
    key = operation.get("Item") or operation.get("Key") or {}
    return str(key.get("pk", {}).get("S", "")).startswith(("appointment#", "lead#"))


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in item.items()}
