"""What the benchmarks share: the service on moto with the Kommo sandbox and the n8n stand-in, new leads
copied from the seeded ones, worker threads draining a queue, what Kommo saw, and a count of the AWS calls
made."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.defaults import AWS_ENVIRONMENT

os.environ.update(AWS_ENVIRONMENT)
# Before any service module is imported (as every Lambda has them): Powertools' Metrics reads its namespace
# once, when sales_assistant.observability is first imported, and a benchmark imports the local helpers first.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KommoSalesAssistantBench")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "kommo-sales-assistant-bench")

KOMMO_LIMIT = 7  # Kommo's requests per second per account (429 above)


@dataclass
class BenchWorld:
    """The world of a benchmark: the local stack (on moto), the Kommo sandbox and the n8n stand-in."""

    stack: Any
    kommo: Any
    n8n: Any

    def handler(self, function_id: str) -> Any:
        """The function's handler, imported as Lambda does, taking the event only."""
        from local.lambda_events import LambdaContext

        function = next(f for f in self.stack.functions() if f.logical_id == function_id).load_handler()
        return lambda event: function(event, LambdaContext(function_name=function_id))


@contextmanager
def bench_world(**environment: str) -> Iterator[BenchWorld]:
    """moto in process, the Kommo sandbox (no 429s) and the n8n stand-in; `environment` overrides settings."""
    import boto3
    from moto import mock_aws

    from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS, create_local_stack
    from local.kommo_sandbox import KommoSandbox
    from local.n8n_standin import N8nStandIn

    os.environ.update(AWS_ENVIRONMENT)
    kommo = KommoSandbox(rate_limit_per_second=10_000).start()
    n8n = N8nStandIn(secret=LOCAL_SECRETS["N8N_SIGNING_SECRET"]).start()
    try:
        with mock_aws():
            stack = create_local_stack(boto3.session.Session())
            os.environ.update(
                {**stack.environment(), "KOMMO_BASE_URL": kommo.url, "N8N_BASE_URL": n8n.url, **environment}
            )
            yield BenchWorld(stack, kommo, n8n)
    finally:
        kommo.stop()
        n8n.stop()


def add_leads(world: BenchWorld, count: int, first_lead: int, first_contact: int, like_lead: int) -> list[int]:
    """`count` new leads in the Kommo sandbox, each with its own contact, copied from the seeded lead
    `like_lead` and its main contact; their ids (`first_lead` on), the contacts' from `first_contact` on."""
    template = world.kommo.leads[like_lead]
    contact = world.kommo.contacts[template["_embedded"]["contacts"][0]["id"]]
    for index in range(count):
        lead_id, contact_id = first_lead + index, first_contact + index
        embedded = {"contacts": [{"id": contact_id, "is_main": True}], "tags": []}
        world.kommo.leads[lead_id] = {**template, "id": lead_id, "_embedded": embedded}
        world.kommo.contacts[contact_id] = {**contact, "id": contact_id}
    return list(range(first_lead, first_lead + count))


def drain(world: BenchWorld, function_id: str, workers: int, until: Callable[[], bool] = lambda: True) -> None:
    """Worker threads, standing for the function's concurrent Lambdas, deliver its queue's messages (in the
    template's batch size) until `until()` holds and the queue is empty. A failed record comes back when its
    handler said, as in AWS (the retry schedule, or the deadline of a Salesbot run waiting for its echo):
    never sooner, so a benchmark measures the deadlines and retries that run in AWS."""
    import boto3

    from local.sqs_pump import deliver_batch, receive

    function = next(f for f in world.stack.functions() if f.logical_id == function_id)
    queue, batch_size = function.sqs_sources[0]
    url, arn = world.stack.physical_ids[queue], world.stack.arns[queue]
    handler = world.handler(function_id)
    sqs = boto3.client("sqs")

    def work() -> None:
        while True:
            messages = receive(sqs, url, batch_size=batch_size)
            if messages:
                deliver_batch(sqs, handler, url, arn, messages)
            elif until() and _empty(sqs, url):
                return
            else:
                time.sleep(0.05)  # as the event source's long poll: nothing visible yet

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _empty(sqs: Any, url: str) -> bool:
    """No message on the queue: none visible, in flight or delayed."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(attributes.get(name, "0") == "0" for name in names)


def salesbot_runs(world: BenchWorld) -> list[tuple[int, float]]:
    """Each lead's Salesbot run that Kommo accepted (one request may run it for many leads): (lead id, time)."""
    requests = world.kommo.calls("POST", "/api/v2/salesbot/run")
    return [(int(run["entity_id"]), request.at) for request in requests if request.status < 400 for run in request.body]


@dataclass(frozen=True)
class KommoLoad:
    """What Kommo saw: requests, from the first to the last arrival (seconds), the most of them in any
    1-second window, and how many it answered 429."""

    requests: int
    span: float
    busiest_second: int
    throttled: int

    @classmethod
    def of(cls, requests: list[Any]) -> KommoLoad:
        """From the sandbox's record (each request with `.at` and `.status`)."""
        arrivals = sorted(request.at for request in requests)
        busiest = first = 0
        for last, at in enumerate(arrivals):
            while arrivals[first] <= at - 1.0:  # as the sandbox counts its window
                first += 1
            busiest = max(busiest, last - first + 1)
        span = arrivals[-1] - arrivals[0] if arrivals else 0.0
        return cls(len(arrivals), span, busiest, sum(1 for request in requests if request.status == 429))

    @property
    def rate(self) -> float:
        """Requests per second between the first and the last arrival."""
        return (self.requests - 1) / self.span if self.span else 0.0

    def assert_within_limit(self) -> None:
        """Raise unless Kommo never had more than KOMMO_LIMIT requests in a second and never answered 429."""
        if self.busiest_second > KOMMO_LIMIT or self.throttled:
            raise AssertionError(
                f"Kommo's limit broken: {self.busiest_second} requests in one second (limit {KOMMO_LIMIT}), "
                f"{self.throttled} answered 429"
            )


def skip_rate_limit_waits() -> list[float]:
    """Give the process's Kommo client a limiter in virtual time: it still makes its DynamoDB reservations
    but never sleeps; returns the list of the waits it skipped (seconds)."""
    import time

    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter
    from sales_assistant.config import get_settings

    skipped: list[float] = []
    settings = get_settings()
    kommo_client(settings).limiter = SharedRateLimiter(
        settings.kommo_table, 7, sleep=skipped.append, clock=lambda: time.time() + sum(skipped)
    )
    return skipped


@contextmanager
def counting_aws_calls(*, by_resource: bool = False) -> Iterator[Counter[str]]:
    """Counts every AWS API call made inside the block, as 'service.Operation' (with `by_resource`,
    'service.Operation resource': the table or queue it went to)."""
    import botocore.client

    calls: Counter[str] = Counter()
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        name = f"{client.meta.service_model.service_name}.{operation}"
        if by_resource:
            resource = params.get("TableName") or params.get("QueueUrl", "").rsplit("/", 1)[-1]
            if operation == "BatchGetItem":
                resource = ",".join(params.get("RequestItems", {}))
            name = f"{name} {resource}"
        calls[name] += 1
        return original(client, operation, params)

    setattr(botocore.client.BaseClient, "_make_api_call", counting)  # noqa: B010
    try:
        yield calls
    finally:
        setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(round(fraction * len(ordered)) - 1, 0)]
