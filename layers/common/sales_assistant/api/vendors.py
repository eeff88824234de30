"""Salesperson routes (bearer): GET /vendors, GET /vendors/{id}, POST /vendors/sync; and the sync
itself, shared by the route and the EventBridge schedule."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant.adapters.vendors import DynamoVendorRepository, load_profiles
from sales_assistant.api.http import PathId, bearer_route
from sales_assistant.config import get_settings
from sales_assistant.errors import NotFound
from sales_assistant.observability import count, logger
from sales_assistant.services.vendors import sync_vendors

router = Router()


def run_vendor_sync() -> dict[str, Any]:
    """Pull every Kommo user into the vendor cache; returns what changed."""
    from sales_assistant.adapters.kommo import kommo_client  # requests and the Kommo models: the sync only

    settings = get_settings()
    profiles = load_profiles(settings.vendor_profiles_parameter) if settings.vendor_profiles_parameter else {}
    users = kommo_client(settings).users()
    report = sync_vendors(users, profiles, DynamoVendorRepository(settings.vendors_table), int(time.time()))
    count("VendorSyncs")
    count("VendorsLeft", len(report.left))
    summary = {key: len(ids) for key, ids in asdict(report).items()}
    logger.info("vendor sync done", extra={"kommo_users": len(users), **summary})
    return {"kommo_users": len(users), **asdict(report)}


@router.get("/vendors", summary="The salesperson cache", **bearer_route("vendors"))
def list_vendors() -> dict[str, Any]:
    """Every cached salesperson (active and former), with their local profile."""
    vendors = DynamoVendorRepository(get_settings().vendors_table).all()
    return {"vendors": [vendor.model_dump(mode="json") for vendor in vendors]}


@router.get("/vendors/<vendor_id>", summary="One cached salesperson", **bearer_route("vendors", 404))
def get_vendor(vendor_id: PathId) -> dict[str, Any]:
    """One salesperson by Kommo user id (404 when not cached)."""
    vendor = DynamoVendorRepository(get_settings().vendors_table).get(vendor_id)
    if vendor is None:
        raise NotFound(f"no salesperson {vendor_id} in the cache", code="vendor_not_found")
    return vendor.model_dump(mode="json")


@router.post("/vendors/sync", summary="Sync salespeople from Kommo now", **bearer_route("vendors", 502))
def sync_now() -> dict[str, Any]:
    """Run the sync the schedule runs, and answer what changed."""
    return run_vendor_sync()
