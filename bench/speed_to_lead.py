"""Benchmark: speed to lead, from a lead's creation in Kommo to its first message's Salesbot run at Kommo.

New leads are created in the Kommo sandbox (7 requests/s with 429 above it), at once or spread evenly
over `--over` seconds (500 over 60 s is the goal's case), each announced by Kommo's `leads[add]` webhook
through the real intake; worker threads,
standing for concurrent Lambdas of the proactive function, drain the lead-events queue meanwhile through
the real shared rate limiter; n8n (the stand-in) answers at once. Everything else is in process (moto).
What it shows: how many Kommo calls a first message costs and how long leads wait (p50, p95, max, and
the fraction served within 90 s), with the account's 7 requests/s as the limit. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass

from bench.harness import KOMMO_LIMIT, KommoLoad, add_leads, bench_world, drain, percentile, salesbot_runs

FIRST_LEAD = 40_000_000
FIRST_CONTACT = 50_000_000
WITHIN_SECONDS = 90.0


@dataclass(frozen=True)
class SpeedToLead:
    """The leads posted, each one's wait for its first message (seconds; none: never sent), Kommo's load."""

    leads: int
    over_seconds: float
    workers: int
    waits: list[float]
    missing: int  # leads without a first message
    kommo: KommoLoad

    def percentile(self, fraction: float) -> float:
        """The wait below which `fraction` of the first messages went."""
        return percentile(self.waits, fraction)

    @property
    def within(self) -> float:
        """The fraction of the leads whose first message went within WITHIN_SECONDS."""
        return sum(1 for wait in self.waits if wait <= WITHIN_SECONDS) / self.leads

    @property
    def kommo_per_first_message(self) -> float:
        """Kommo requests per first message sent."""
        return self.kommo.requests / max(len(self.waits), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=20)
    parser.add_argument("--over", type=float, default=0.0, help="seconds over which the leads are posted (0: at once)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    result = measure(args.leads, args.over, args.workers)
    print(
        f"leads: {result.leads} over {result.over_seconds:g} s, workers: {result.workers}, "
        f"first messages: {len(result.waits)}, leads without one: {result.missing}"
    )
    print(
        f"speed to lead: p50 {result.percentile(0.5):.1f} s, p95 {result.percentile(0.95):.1f} s, "
        f"max {max(result.waits):.1f} s; within {WITHIN_SECONDS:.0f} s: {result.within:.0%}"
    )
    print(f"Kommo calls per first message: {result.kommo_per_first_message:.1f} (429s: {result.kommo.throttled})")


def measure(leads: int, over_seconds: float, workers: int) -> SpeedToLead:
    """Create `leads` new leads evenly over `over_seconds`, each with its `leads[add]` webhook, while `workers`
    threads drain the lead-events queue; each lead's wait from its creation to its first Salesbot run."""
    from local.kommo_webhooks import lead_added_body
    from local.lambda_events import schedule_event
    from local.moto_threads import serialised_moto
    from local.sam_events import webhook_event

    with bench_world() as world, serialised_moto():
        world.kommo.rate_limit_per_second = KOMMO_LIMIT
        lead_ids = add_leads(world, leads, FIRST_LEAD, FIRST_CONTACT, like_lead=27754601)
        world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction"))  # salespeople at work all day
        world.kommo.requests.clear()

        intake = world.handler("WebhookIntakeFunction")
        created_at: dict[int, float] = {}
        posted = threading.Event()
        draining = threading.Thread(target=drain, args=(world, "ProactiveTriggerFunction", workers, posted.is_set))
        draining.start()
        try:
            started = time.time()
            for index, lead_id in enumerate(lead_ids):
                time.sleep(max(started + index * over_seconds / leads - time.time(), 0))
                created_at[lead_id] = time.time()
                world.kommo.leads[lead_id]["created_at"] = int(created_at[lead_id])
                response = intake(webhook_event(lead_added_body(world.kommo.leads[lead_id])))
                assert response["statusCode"] == 200, response
        finally:
            posted.set()
            draining.join()

        first_runs: dict[int, float] = {}
        for lead_id, at in salesbot_runs(world):
            first_runs.setdefault(lead_id, at)
        waits = [first_runs[lead] - at for lead, at in created_at.items() if lead in first_runs]
        return SpeedToLead(leads, over_seconds, workers, waits, leads - len(waits), KommoLoad.of(world.kommo.requests))


if __name__ == "__main__":
    main()
