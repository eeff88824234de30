"""Salesperson sync: Kommo users into the salespeople cache, local profiles applied, leavers kept inactive;
then the salesperson list forwarded to n8n when it changed.

A profile has two sources. PUT /vendors/{id}/profile (`make import-profiles` puts config/vendor-profiles.json
through it) sets it, and it stays: the sync never overwrites it. The profile config (the SSM parameter
VENDOR_PROFILES_PARAMETER) applies only to salespeople whose profile was never set through the API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sales_assistant.models.kommo import KommoUser
from sales_assistant.models.n8n import ListedSalesperson, SalespeopleRequest
from sales_assistant.models.salesperson import Salesperson, SalespersonProfile
from sales_assistant.observability import count, logger, mask_email
from sales_assistant.services.ports.n8n import AiFailure, SalespeopleForwarder
from sales_assistant.services.ports.storage import Salespeople, SentSalespeople


@dataclass
class SyncReport:
    """What a sync changed (salesperson ids, Kommo user ids)."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    profiles_applied: list[int] = field(default_factory=list)
    profiles_kept: list[int] = field(default_factory=list)  # set through the API: the config's differs, not applied


def sync_salespeople(
    users: list[KommoUser], profiles: dict[int, SalespersonProfile], repository: Salespeople, now: int
) -> SyncReport:
    """Upsert every Kommo user, apply configured profiles, mark users gone from Kommo as inactive.

    Profile fields of a salesperson the config does not mention are left as they are; nothing is deleted.
    A profile set through the API is kept whatever the config says.
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
            _apply_configured(user.id, profile, known, repository, report)
    present = {user.id for user in users}
    for vendor_id, salesperson in cached.items():
        if vendor_id not in present and salesperson.left_at is None:
            repository.mark_left(vendor_id, now)
            report.left.append(vendor_id)
    return report


def _apply_configured(
    vendor_id: int, profile: SalespersonProfile, known: Salesperson | None, repository: Salespeople, report: SyncReport
) -> None:
    """The config's profile, unless the salesperson's was set through the API (also meanwhile: the write is
    conditional)."""
    set_by_api = known is not None and known.profile_source == "api"
    if not set_by_api and repository.save_profile(vendor_id, profile, "config"):
        report.profiles_applied.append(vendor_id)
    else:
        report.profiles_kept.append(vendor_id)


def forward_salespeople(
    salespeople: list[Salesperson], n8n: SalespeopleForwarder, sent: SentSalespeople, path: str
) -> bool:
    """Send n8n every salesperson (id, name, areas, active) when the list differs from the last one n8n
    stored; True when sent. Best-effort: n8n failing is a warning and `VendorListForwardFailed`, never a
    failed sync, and the next sync sends the list again."""
    request = SalespeopleRequest(
        salespeople=[
            ListedSalesperson(
                id=salesperson.vendor_id,
                name=salesperson.name,
                areas=salesperson.profile.areas,
                active=salesperson.active,
            )
            for salesperson in sorted(salespeople, key=lambda salesperson: salesperson.vendor_id)
        ]
    )
    fingerprint = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
    if fingerprint == sent.last():
        return False
    try:
        n8n.deliver(path, request)
    except AiFailure as failure:
        logger.warning(
            "salesperson list not forwarded to n8n: the next sync sends it", extra={"reason": failure.reason}
        )
        count("VendorListForwardFailed", reason=failure.reason)
        return False
    sent.remember(fingerprint)
    logger.info("salesperson list forwarded to n8n", extra={"salespeople": len(request.salespeople)})
    return True


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
