"""Benchmark: how fast intake answers Kommo, and what one webhook costs in AWS calls.

Real Kommo bodies through the intake handler on moto (in process), warm. Kommo wants an answer within
2 s and the design targets well under 1 s. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.harness import bench_world, counting_aws_calls, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=200)
    args = parser.parse_args()

    from local.sam_events import kommo_body, webhook_event
    from tests.integration.test_reactive_flow import client_message

    with bench_world() as world:
        intake = world.handler("WebhookIntakeFunction")
        intake(webhook_event(kommo_body("lead-status-changed")))  # warm-up
        kinds = {
            "client message": lambda i: client_message(f"intake-{i}", "Oi, quero saber do consórcio 😊"),
            "salesperson message": lambda i: kommo_body("salesperson-assumir").replace("e4a257ab", f"{i:08d}"),
            "duplicate delivery": lambda i: kommo_body("client-message"),
        }
        for kind, body in kinds.items():
            timings = []
            with counting_aws_calls() as calls:
                for index in range(args.webhooks):
                    started = time.perf_counter()
                    response = intake(webhook_event(body(index)))
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response["statusCode"] == 200, response
            per_webhook = {name: round(value / args.webhooks, 2) for name, value in sorted(calls.items())}
            print(
                f"{kind:20}: mean {statistics.mean(timings):.1f} ms, p50 {percentile(timings, 0.5):.1f} ms, "
                f"p95 {percentile(timings, 0.95):.1f} ms; AWS calls per webhook {per_webhook}"
            )


if __name__ == "__main__":
    main()
