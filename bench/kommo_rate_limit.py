"""Benchmark: Kommo calls/s achieved through the shared rate limiter, as a fraction of Kommo's 7/s.

Several threads (standing for concurrent Lambdas, each with its own client and limiter) call the
Kommo sandbox through one DynamoDB bucket on moto. Run: `make bench` (or python -m bench.kommo_rate_limit).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

KOMMO_LIMIT = 7.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=70)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    import boto3
    from moto import mock_aws

    from local.defaults import AWS_ENVIRONMENT, create_local_stack
    from local.kommo_sandbox import KommoSandbox
    from local.moto_threads import serialised_dynamodb

    os.environ.update(AWS_ENVIRONMENT)
    sandbox = KommoSandbox().start()
    with mock_aws():
        stack = create_local_stack(boto3.session.Session())
        os.environ.update({**stack.environment(), "KOMMO_BASE_URL": sandbox.url})
        from sales_assistant.adapters.kommo.client import KommoClient, pooled_session, token_source
        from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter
        from sales_assistant.config import get_settings

        settings = get_settings()

        def worker(index: int) -> None:
            session = pooled_session()
            limiter = SharedRateLimiter(settings.kommo_table, settings.kommo_rate_limit_per_second)
            KommoClient(settings.kommo_api_base, token_source(settings, session), limiter, session=session).lead(
                27754599 + index % 6
            )

        started = time.perf_counter()
        with serialised_dynamodb(), ThreadPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(worker, range(args.calls)))
        elapsed = time.perf_counter() - started
    sandbox.stop()
    arrivals = sorted(request.at for request in sandbox.requests)
    busiest = max(sum(1 for t in arrivals[i:] if t - start < 1.0) for i, start in enumerate(arrivals))
    throttled = sum(1 for request in sandbox.requests if request.status == 429)
    rate = args.calls / elapsed
    at_kommo = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    print(f"calls: {args.calls}  workers: {args.workers}  elapsed: {elapsed:.2f} s")
    print(f"achieved: {rate:.2f} calls/s = {rate / KOMMO_LIMIT:.1%} of Kommo's {KOMMO_LIMIT:.0f}/s (start to end)")
    print(f"at Kommo: {at_kommo:.2f} calls/s = {at_kommo / KOMMO_LIMIT:.1%} (first to last arrival)")
    print(f"busiest 1-second window at Kommo: {busiest} calls; 429 answers: {throttled}")


if __name__ == "__main__":
    main()
