"""Salesperson routes (operator token): GET /vendors, GET /vendors/{id}, GET and PUT /vendors/{id}/profile,
POST /vendors/sync; and the sync itself, shared by the route and the EventBridge schedule: one run at a time
(adapters/sync_lock.py), the salesperson list forwarded to n8n when it changed. A profile set by PUT wins over
the profile config (services/salespeople.py)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant import composition
from sales_assistant.adapters.salespeople import load_profiles
from sales_assistant.api.http import OPERATOR_ONLY, PathId, bearer_route, parsed_body
from sales_assistant.config import Settings, get_settings
from sales_assistant.errors import BadRequest, NotFound
from sales_assistant.invocation import remaining_seconds
from sales_assistant.models.salesperson import Salesperson, SalespersonProfile
from sales_assistant.observability import count, logger
from sales_assistant.services.salespeople import forward_salespeople, sync_salespeople

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
    from sales_assistant.adapters.n8n import n8n_client

    users = kommo_client(settings).users()
    salespeople = composition.salespeople(settings)
    report = sync_salespeople(users, profiles, salespeople, int(time.time()))
    count("VendorSyncs")
    count("VendorsLeft", len(report.left))
    summary = {key: len(ids) for key, ids in asdict(report).items()}
    logger.info("vendor sync done", extra={"kommo_users": len(users), **summary})
    forwarded = forward_salespeople(
        salespeople.all(), n8n_client(settings), composition.sent_salespeople(settings), settings.n8n_salespeople_path
    )
    return {"kommo_users": len(users), **asdict(report), "list_sent_to_n8n": forwarded}


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
    return _cached(vendor_id).model_dump(mode="json")


@router.get(
    "/vendors/<vendor_id>/profile",
    summary="A salesperson's profile",
    description="Areas, time zone, working hours, meetings and holidays: the body PUT takes.",
    **bearer_route("vendors", 404, scopes=OPERATOR_ONLY),
)
def get_profile(vendor_id: PathId) -> dict[str, Any]:
    """The salesperson's profile (404 when not cached)."""
    return _cached(vendor_id).profile.model_dump(mode="json")


@router.put(
    "/vendors/<vendor_id>/profile",
    summary="Set a salesperson's profile",
    description="Body: the whole profile, as GET answers it (a field left out takes its default). Stored with the "
    "salesperson and kept by every later sync: the profile config (VENDOR_PROFILES_PARAMETER) no longer applies "
    "to this salesperson. 422 invalid_body naming the field (e.g. timezone, working_hours.mon.1); 404 for a "
    "salesperson not synced from Kommo yet (POST /vendors/sync).",
    **bearer_route("vendors", 400, 404, scopes=OPERATOR_ONLY),
)
def put_profile(vendor_id: PathId) -> dict[str, Any]:
    """Store the profile in the body for the salesperson; answers it as stored."""
    profile = _profile_in_body()
    if not composition.salespeople(get_settings()).save_profile(vendor_id, profile, "api"):
        raise _not_cached(vendor_id)
    logger.info("salesperson profile set", extra={"vendor_id": vendor_id})
    return profile.model_dump(mode="json")


def _profile_in_body() -> SalespersonProfile:
    """The request's body as a profile, whatever its content type (API Gateway base64-encodes a form's): 400
    when it is empty or unreadable, 422 naming the field when it is not a profile."""
    try:
        body = router.current_event.decoded_body
    except ValueError:  # not base64, or not UTF-8
        raise BadRequest("the body is not valid base64/UTF-8", code="invalid_body") from None
    if not body:
        raise BadRequest(
            "empty body: send the whole profile as JSON (GET answers the current one)", code="invalid_body"
        )
    return parsed_body(SalespersonProfile, body)


def _cached(vendor_id: int) -> Salesperson:
    salesperson = composition.salespeople(get_settings()).get(vendor_id)
    if salesperson is None:
        raise _not_cached(vendor_id)
    return salesperson


def _not_cached(vendor_id: int) -> NotFound:
    return NotFound(f"no salesperson {vendor_id} in the cache", code="vendor_not_found")


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
