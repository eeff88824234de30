"""Salesperson routes (operator token): GET /vendors, GET /vendors/{id}, POST /vendors/sync; and the sync
itself, shared by the route and the EventBridge schedule: one run at a time (adapters/sync_lock.py)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant import composition
from sales_assistant.adapters.salespeople import load_profiles
from sales_assistant.api.http import OPERATOR_ONLY, PathId, bearer_route
from sales_assistant.config import Settings, get_settings
from sales_assistant.errors import NotFound
from sales_assistant.invocation import remaining_seconds
from sales_assistant.observability import count, logger
from sales_assistant.services.salespeople import sync_salespeople

router = Router()


LONGEST_SYNC_SECONDS = 120  # outside Lambda (the local run); in Lambda a run ends with its invocation


def run_salesperson_sync(*, on_demand: bool) -> dict[str, Any]:
    """Pull every Kommo user into the salespeople cache; returns what changed. SyncBusy (429) while another run
    goes on, or, `on_demand`, within VENDOR_SYNC_MIN_INTERVAL_SECONDS of the last on-demand run."""
    settings = get_settings()
    lock = composition.sync_lock(settings)
    run_id = lock.acquire(on_demand=on_demand, longest_run_seconds=remaining_seconds() or LONGEST_SYNC_SECONDS)
    try:
        return _sync(settings)
    finally:
        lock.release(run_id)


def _sync(settings: Settings) -> dict[str, Any]:
    from sales_assistant.adapters.kommo import kommo_client  # requests and the Kommo models: the sync only

    profiles = load_profiles(settings.salesperson_profiles_parameter) if settings.salesperson_profiles_parameter else {}
    users = kommo_client(settings).users()
    report = sync_salespeople(users, profiles, composition.salespeople(settings), int(time.time()))
    count("VendorSyncs")
    count("VendorsLeft", len(report.left))
    summary = {key: len(ids) for key, ids in asdict(report).items()}
    logger.info("vendor sync done", extra={"kommo_users": len(users), **summary})
    return {"kommo_users": len(users), **asdict(report)}


@router.get("/vendors", summary="The salesperson cache", **bearer_route("vendors", scopes=OPERATOR_ONLY))
def list_salespeople() -> dict[str, Any]:
    """Every cached salesperson (active and former), with their local profile."""
    salespeople = composition.salespeople(get_settings()).all()
    return {"vendors": [salesperson.model_dump(mode="json") for salesperson in salespeople]}


@router.get(
    "/vendors/<vendor_id>", summary="One cached salesperson", **bearer_route("vendors", 404, scopes=OPERATOR_ONLY)
)
def get_salesperson(vendor_id: PathId) -> dict[str, Any]:
    """One salesperson by Kommo user id (404 when not cached)."""
    salesperson = composition.salespeople(get_settings()).get(vendor_id)
    if salesperson is None:
        raise NotFound(f"no salesperson {vendor_id} in the cache", code="vendor_not_found")
    return salesperson.model_dump(mode="json")


@router.post(
    "/vendors/sync",
    summary="Sync salespeople from Kommo now",
    description="Runs the sync the schedule runs and answers what changed. One run at a time, and one on-demand "
    "run per VENDOR_SYNC_MIN_INTERVAL_SECONDS: 429 sync_running or sync_too_soon with Retry-After otherwise.",
    **bearer_route("vendors", 429, 502, scopes=OPERATOR_ONLY),
)
def sync_now() -> dict[str, Any]:
    """Run the sync the schedule runs, and answer what changed."""
    return run_salesperson_sync(on_demand=True)
