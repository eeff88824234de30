"""Salesperson sync: Kommo users into the salespeople cache, local profiles applied, leavers kept inactive."""

from __future__ import annotations

from dataclasses import dataclass, field

from sales_assistant.models.kommo import KommoUser
from sales_assistant.models.salesperson import Salesperson, SalespersonProfile
from sales_assistant.observability import logger, mask_email
from sales_assistant.services.ports.storage import Salespeople


@dataclass
class SyncReport:
    """What a sync changed (salesperson ids, Kommo user ids)."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    profiles_applied: list[int] = field(default_factory=list)


def sync_salespeople(
    users: list[KommoUser], profiles: dict[int, SalespersonProfile], repository: Salespeople, now: int
) -> SyncReport:
    """Upsert every Kommo user, apply configured profiles, mark users gone from Kommo as inactive.

    Profile fields of a salesperson the config does not mention are left as they are; nothing is deleted.
    """
    report = SyncReport()
    cached = {salesperson.vendor_id: salesperson for salesperson in repository.all()}
    for user in users:
        known = cached.get(user.id)
        if known is None:
            report.added.append(user.id)
            logger.debug("new salesperson", extra={"vendor_id": user.id, "email": mask_email(user.email)})
        elif _kommo_fields_differ(known, user):
            report.updated.append(user.id)
        repository.save_from_kommo(user, now)
        profile = profiles.get(user.id)
        if profile is not None and (known is None or known.profile != profile):
            repository.save_profile(user.id, profile)
            report.profiles_applied.append(user.id)
    present = {user.id for user in users}
    for vendor_id, salesperson in cached.items():
        if vendor_id not in present and salesperson.left_at is None:
            repository.mark_left(vendor_id, now)
            report.left.append(vendor_id)
    return report


def _kommo_fields_differ(salesperson: Salesperson, user: KommoUser) -> bool:
    return (
        salesperson.name,
        salesperson.email,
        salesperson.active,
        salesperson.is_admin,
        salesperson.group_id,
        salesperson.role_id,
    ) != (
        user.name,
        user.email,
        user.rights.is_active,
        user.rights.is_admin,
        user.rights.group_id,
        user.rights.role_id,
    )
