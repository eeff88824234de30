"""Benchmark: Kommo calls/s achieved through the shared rate limiter, as a fraction of Kommo's 7/s.

Several threads (standing for concurrent Lambdas, each with its own client and limiter) call the
Kommo sandbox through one DynamoDB bucket on moto. Run: `make bench` (or python -m bench.kommo_rate_limit).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.harness import KOMMO_LIMIT, KommoLoad


@dataclass(frozen=True)
class LimiterRun:
    """`calls` lead reads from `workers` threads: how long they took, and Kommo's load."""

    calls: int
    workers: int
    elapsed: float  # seconds, start to end
    kommo: KommoLoad

    @property
    def rate(self) -> float:
        """Calls per second from start to end (the first call's set-up and the last call's answer included)."""
        return self.calls / self.elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=70)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    result = measure(args.calls, args.workers)
    print(f"calls: {result.calls}  workers: {result.workers}  elapsed: {result.elapsed:.2f} s")
    print(
        f"achieved: {result.rate:.2f} calls/s = {result.rate / KOMMO_LIMIT:.1%} of Kommo's {KOMMO_LIMIT}/s "
        "(start to end)"
    )
    print(f"at Kommo: {result.kommo.rate:.2f} calls/s = {result.kommo.rate / KOMMO_LIMIT:.1%} (first to last arrival)")
    print(
        f"busiest 1-second window at Kommo: {result.kommo.busiest_second} calls; 429 answers: {result.kommo.throttled}"
    )


def measure(calls: int, workers: int) -> LimiterRun:
    """`calls` lead reads, as many at once as `workers`, each worker with its own client and limiter."""
    import boto3
    from moto import mock_aws

    from local.defaults import AWS_ENVIRONMENT, create_local_stack
    from local.kommo_sandbox import KommoSandbox
    from local.moto_threads import serialised_moto

    os.environ.update(AWS_ENVIRONMENT)
    sandbox = KommoSandbox(rate_limit_per_second=KOMMO_LIMIT).start()
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
        with serialised_moto(), ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(worker, range(calls)))
        elapsed = time.perf_counter() - started
    sandbox.stop()
    return LimiterRun(calls, workers, elapsed, KommoLoad.of(sandbox.requests))


if __name__ == "__main__":
    main()
