"""Benchmark: speed to lead, from `POST /triggers` to the first message's Salesbot run at Kommo.

A burst of new leads (added to the Kommo sandbox, 7 requests/s with 429 above it) is posted at once;
worker threads, standing for concurrent Lambdas of the proactive function, drain the lead-events queue
through the real shared rate limiter; n8n (the stand-in) answers at once. Everything else is in
process (moto). What it shows: how many Kommo calls a first message costs and how long the last lead
of a burst waits, with the account's 7 requests/s as the limit. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from bench.harness import bench_world, percentile

FIRST_LEAD = 40_000_000
FIRST_CONTACT = 50_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    import boto3

    from local.defaults import LOCAL_SECRETS
    from local.lambda_events import http_api_event, schedule_event
    from local.sqs_pump import deliver_batch, receive

    with bench_world() as world:
        world.kommo.rate_limit_per_second = 7
        template = world.kommo.leads[27754601]
        contact = world.kommo.contacts[93589659]
        for index in range(args.leads):
            lead_id, contact_id = FIRST_LEAD + index, FIRST_CONTACT + index
            world.kommo.leads[lead_id] = {
                **template,
                "id": lead_id,
                "_embedded": {"contacts": [{"id": contact_id, "is_main": True}], "tags": []},
            }
            world.kommo.contacts[contact_id] = {**contact, "id": contact_id}
        world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction"))  # salespeople at work all day

        trigger_api = world.handler("ProactiveTriggerFunction")
        auth = {"authorization": f"Bearer {LOCAL_SECRETS['API_TOKEN']}", "content-type": "application/json"}
        posted_at: dict[int, float] = {}
        calls_before = len(world.kommo.requests)
        for index in range(args.leads):
            lead_id = FIRST_LEAD + index
            body = json.dumps({"lead_id": lead_id, "trigger": "form"})
            posted_at[lead_id] = time.time()
            assert trigger_api(http_api_event("POST", "/triggers", headers=auth, body=body))["statusCode"] == 202

        url, arn = world.stack.physical_ids["LeadEventsQueue"], world.stack.arns["LeadEventsQueue"]
        sqs = boto3.client("sqs")

        def drain() -> None:
            idle_since = time.time()
            while time.time() - idle_since < 3:
                messages = receive(sqs, url, batch_size=1)
                if messages:
                    deliver_batch(sqs, trigger_api, url, arn, messages, retry_after_seconds=1)
                    idle_since = time.time()

        workers = [threading.Thread(target=drain) for _ in range(args.workers)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

        runs = {int(r.body[0]["entity_id"]): r.at for r in world.kommo.calls("POST", "/api/v2/salesbot/run")}
        waits = [runs[lead] - posted for lead, posted in posted_at.items() if lead in runs]
        calls = len(world.kommo.requests) - calls_before
        throttled = sum(1 for r in world.kommo.requests if r.status == 429)
        print(f"leads: {args.leads}, workers: {args.workers}, first messages: {len(runs)}")
        print(
            f"speed to lead: p50 {percentile(waits, 0.5):.1f} s, p95 {percentile(waits, 0.95):.1f} s, "
            f"max {max(waits):.1f} s"
        )
        print(f"Kommo calls per first message: {calls / max(len(runs), 1):.1f} (429s: {throttled})")


if __name__ == "__main__":
    main()
