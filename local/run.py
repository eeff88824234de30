"""The local run: `python -m local.run` (the README's `make run`).

On 127.0.0.1 it starts moto's server as AWS (tables, queues and secrets created from
template.yaml; STAGE=local), the HTTP API on port 3000 routing to the same handlers with API
Gateway-shaped events, one SQS poller per consumer (SQS-shaped batches, partial batch failures honoured, failed
messages retried and dead-lettered by the queue's redrive policy), schedules on demand
(`POST /_local/schedules/{FunctionLogicalId}`), the one-time schedules the code creates (appointment
reminders) fired when due (local/one_time_schedules.py), and the Kommo sandbox and the n8n stand-in unless
KOMMO_BASE_URL / N8N_BASE_URL point elsewhere.

The settings: the embedded defaults (local/defaults.py), a configuration file over them (CONFIG, else
config/local.toml when it exists: local/deployment_config.py) and the environment variables over both
(`KOMMO_SALESBOT_ID=555 make run`). The sandbox's account gets the lead fields and Salesbots they name.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS, create_local_stack
from local.deployment_config import ConfigError, config_path, local_run_deployment
from local.lambda_events import LambdaContext, http_api_event, schedule_event
from local.loopback import LoopbackServer
from local.sqs_pump import deliver_batch, receive
from local.stack import ROOT, Function, HttpRoute, Stack

if TYPE_CHECKING:
    from local.kommo_sandbox import KommoSandbox
    from sales_assistant.config import Settings

CONCURRENCY_PER_FUNCTION = 4  # concurrent "execution environments" of one function (threads here)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3000, help="HTTP API port (default 3000, like sam local start-api)")
    parser.add_argument("--aws-port", type=int, default=5000, help="moto server port")
    parser.add_argument("--kommo-port", type=int, default=8088, help="Kommo sandbox port")
    parser.add_argument("--n8n-port", type=int, default=5678, help="n8n stand-in port")
    args = parser.parse_args(argv)
    try:
        runner = LocalRunner(
            api_port=args.port,
            aws_port=args.aws_port,
            kommo_port=args.kommo_port,
            n8n_port=args.n8n_port,
            config=config_path(os.environ),
        )
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    run_until_stopped(runner, started=lambda: print(runner.banner(), flush=True))


class Service(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


def run_until_stopped(service: Service, started: Callable[[], None] = lambda: None) -> None:
    """Start `service`, then serve until Ctrl+C or SIGTERM, even one sent during start-up; then stop it.

    SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl+C does: a handler that sets a
    threading.Event deadlocks when the signal lands while the main thread holds that Event's lock
    (waiting on it), and the run then ignored SIGTERM for good."""

    stopping = False

    def interrupt(*_: object) -> None:
        nonlocal stopping
        if not stopping:  # once: stopping is not interrupted by the next SIGTERM
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        service.start()
        started()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


class LocalRunner:
    """Everything the local run starts, in one object (also used by the end-to-end tests)."""

    def __init__(
        self,
        *,
        api_port: int = 3000,
        aws_port: int = 5000,
        kommo_port: int = 8088,
        n8n_port: int = 5678,
        poll_wait_seconds: int = 1,
        config: Path | None = None,
    ) -> None:
        self.api_port = api_port
        self.aws_port = aws_port
        self.kommo_port = kommo_port
        self.n8n_port = n8n_port
        self.poll_wait_seconds = poll_wait_seconds
        self.stack: Stack
        self.functions: dict[str, Function] = {}
        self.handlers: dict[str, Callable[[dict, Any], Any]] = {}
        self.slots: dict[str, threading.Semaphore] = {}
        self.routes: list[HttpRoute] = []
        self._stopping = threading.Event()
        self._servers: list[Any] = []
        self.kommo_url = os.environ.get("KOMMO_BASE_URL", "")
        self.n8n_url = os.environ.get("N8N_BASE_URL", "")
        self.config = config
        sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
        self.deployment = local_run_deployment(config, os.environ, kommo_sandbox=not self.kommo_url)

    # ------------------------------------------------------------------ start and stop
    def start(self) -> None:
        """Start AWS (moto), create the stack, import the handlers, serve HTTP and poll the queues."""
        self._start_aws()
        self._start_kommo_sandbox()
        self._start_n8n_standin()
        self._configure_environment()
        for function in self.stack.functions():
            self.functions[function.logical_id] = function
            self.slots[function.logical_id] = threading.Semaphore(CONCURRENCY_PER_FUNCTION)
            self.handlers[function.logical_id] = function.load_handler()
            self.routes.extend(function.http_routes)
            for queue_id, batch_size in function.sqs_sources:
                fifo = self.stack.physical_ids[queue_id].endswith(".fifo")  # one poller keeps FIFO order
                for _ in range(1 if fifo else CONCURRENCY_PER_FUNCTION):
                    poller = threading.Thread(target=self._poll, args=(function.logical_id, queue_id, batch_size))
                    poller.daemon = True
                    poller.start()
        one_time = threading.Thread(target=self._fire_one_time_schedules, daemon=True)
        one_time.start()
        self._servers.append(LoopbackServer(self._serve_http, self.api_port, log=_log_request).start())

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers:
            server.stop()

    def banner(self) -> str:
        lines = [
            f"HTTP API on http://127.0.0.1:{self.api_port}  (AWS on moto at http://127.0.0.1:{self.aws_port}, "
            f"Kommo at {self.kommo_url}, n8n at {self.n8n_url})"
        ]
        lines += [f"  {route.method:6} {route.path:40} -> {route.function}" for route in self.routes]
        schedules = [name for name, function in self.functions.items() if function.schedules]
        lines += [f"  POST   /_local/schedules/{name:24} (schedule on demand)" for name in schedules]
        configuration = self.config or "none (CONFIG=config/<stage>.toml, or config/local.toml)"
        lines.append(f"  configuration file: {configuration}; the environment wins over it, the defaults fill in")
        lines.append(f"  webhook token: {LOCAL_SECRETS['WEBHOOK_TOKEN']}")
        lines.append(f"  operator token: {LOCAL_SECRETS['API_TOKEN']}   n8n token: {LOCAL_SECRETS['N8N_API_TOKEN']}")
        return "\n".join(lines)

    def _start_aws(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log

        os.environ.update({**AWS_ENVIRONMENT, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.aws_port}"})
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.aws_port, verbose=False)
        moto.start()
        self._servers.append(moto)
        import boto3

        self.sqs = boto3.client("sqs")
        self.stack = create_local_stack(boto3.session.Session(), self.deployment.parameters)

    def _start_kommo_sandbox(self) -> None:
        """The Kommo sandbox, unless KOMMO_BASE_URL points at a real account."""
        if self.kommo_url:
            return
        from local.kommo_sandbox import KommoSandbox

        webhook_target = f"http://127.0.0.1:{self.api_port}/webhooks/kommo/{LOCAL_SECRETS['WEBHOOK_TOKEN']}"
        sandbox = KommoSandbox(port=self.kommo_port, webhook_target=webhook_target)
        _account_has_what_settings_name(sandbox, self.deployment.settings())
        self._servers.append(sandbox.start())
        self.kommo_url = sandbox.url

    def _start_n8n_standin(self) -> None:
        """The n8n stand-in, unless N8N_BASE_URL points at a real n8n."""
        if self.n8n_url:
            return
        from local.n8n_standin import N8nStandIn

        standin = N8nStandIn(secret=LOCAL_SECRETS["N8N_SIGNING_SECRET"], port=self.n8n_port).start()
        self._servers.append(standin)
        self.n8n_url = standin.url

    def _configure_environment(self) -> None:
        environment = self.stack.environment()
        if self.kommo_url:
            environment["KOMMO_BASE_URL"] = self.kommo_url
        if self.n8n_url:
            environment["N8N_BASE_URL"] = self.n8n_url
        os.environ.update(environment)

    # ------------------------------------------------------------------ invocation
    def invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        """Invoke a handler as Lambda would, with up to CONCURRENCY_PER_FUNCTION invocations at once."""
        function = self.functions[function_id]
        context = LambdaContext(function_name=function_id, timeout_seconds=function.timeout)
        with self.slots[function_id]:
            return self.handlers[function_id](event, context)

    def _serve_http(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            return self.handle_http(method, target, headers, body)
        except Exception as error:  # a crashed function is a 502 from API Gateway
            print(f"[local] {method} {urlsplit(target).path} crashed: {error!r}", file=sys.stderr, flush=True)
            return _json(502, {"message": "Internal Server Error"})

    def handle_http(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Route one HTTP request to its function; returns status, headers and body."""
        url = urlsplit(target)
        if method == "POST" and url.path.startswith("/_local/schedules/"):
            function_id = url.path.rsplit("/", 1)[-1]
            if function_id not in self.functions or not self.functions[function_id].schedules:
                return _json(404, {"error": "not_found", "message": f"no scheduled function {function_id}"})
            return _json(200, {"result": self.invoke(function_id, schedule_event(function_id))})
        for route in self.routes:
            match = route.pattern.match(url.path)
            if match and route.method == method:
                event = http_api_event(
                    method,
                    url.path,
                    route_key=f"{route.method} {route.path}",
                    path_parameters=match.groupdict(),
                    query=dict(parse_qsl(url.query, keep_blank_values=True)),  # `?status=` as API Gateway: ""
                    headers=headers,
                    body=body if body else None,
                    base64_body=not headers.get("content-type", "").startswith("application/json"),
                )
                response = self.invoke(route.function, event)
                payload = response.get("body") or ""
                raw = payload.encode() if isinstance(payload, str) else payload
                return response.get("statusCode", 200), response.get("headers", {}), raw
        return _json(404, {"error": "not_found", "message": "no such route"})

    def _fire_one_time_schedules(self) -> None:
        """EventBridge Scheduler's part: one-time schedules (reminders) sent to their queue when due."""
        import boto3

        from local.one_time_schedules import fire_due

        scheduler = boto3.client("scheduler")
        while not self._stopping.wait(1):
            try:
                for name in fire_due(self.stack, scheduler, self.sqs):
                    print(f"[local] one-time schedule {name} fired", flush=True)
            except Exception as error:  # the server is stopping, or moto hiccuped: try again next second
                print(f"[local] one-time schedules: {error!r}", file=sys.stderr, flush=True)

    def _poll(self, function_id: str, queue_id: str, batch_size: int) -> None:
        url = self.stack.physical_ids[queue_id]
        arn = self.stack.arns[queue_id]
        while not self._stopping.is_set():
            try:
                received = receive(self.sqs, url, batch_size, self.poll_wait_seconds)
            except Exception:  # the server is stopping
                time.sleep(0.2)
                continue
            if received:
                deliver_batch(self.sqs, partial(self.invoke, function_id), url, arn, received)


def _account_has_what_settings_name(sandbox: KommoSandbox, settings: Settings) -> None:
    """The lead fields and Salesbots the settings name, added to the sandbox's account when it lacks them: a
    configuration made for another account runs against the sandbox as it is."""
    from local.kommo_seed import lead_field, salesbot

    fields = {settings.kommo_reply_field_id: "textarea", **dict.fromkeys(settings.template_fields.values(), "text")}
    if settings.lead_area_field_id:
        fields[settings.lead_area_field_id] = "select"
    known = {existing["id"] for existing in sandbox.lead_fields}
    sandbox.lead_fields += [lead_field(i, f"Campo {i}", kind, None) for i, kind in fields.items() if i not in known]
    bots = {settings.kommo_salesbot_id, *settings.template_salesbots.values()}
    if settings.kommo_template_salesbot_id:
        bots.add(settings.kommo_template_salesbot_id)
    for bot_id in bots - set(sandbox.salesbots):
        sandbox.salesbots[bot_id] = salesbot(bot_id, f"Salesbot {bot_id}")


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


def _log_request(method: str, target: str, status: int) -> None:
    path = urlsplit(target).path
    if path.startswith("/webhooks/kommo/"):
        path = "/webhooks/kommo/<token>"  # the token is a secret
    print(f"[local] {method} {path} -> {status}", flush=True)


if __name__ == "__main__":
    main()
