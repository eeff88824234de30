"""HTTP without sockets: the service's requests to `http://<host>.sim` are answered in process by the
fake behind that host (the Kommo sandbox, the n8n stand-in, the service's own webhook intake), on the
virtual clock. One thread, no server: a run is deterministic.

A reply that takes longer (in virtual time) than the caller's read timeout becomes a `ReadTimeout` after
it took effect, as a slow server's would; `down(host, until)` makes a host refuse connections until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
"""(method, target, lower-cased headers, body) -> (status, headers, body), as local/loopback.py serves."""


class InProcessHosts:
    """The fakes, by host name (`kommo.sim` -> `http://kommo.sim`), and the hosts that are down."""

    def __init__(self) -> None:
        self.hosts: dict[str, Answer] = {}
        self.down_until: dict[str, float] = {}

    def serve(self, host: str, answer: Answer) -> str:
        """Answer requests to `host` with `answer`; returns the base URL to give the service."""
        self.hosts[host] = answer
        return f"http://{host}"

    def down(self, host: str, until: float) -> None:
        """`host` refuses every connection until the unix time `until`."""
        self.down_until[host] = until

    def send(self, request: requests.PreparedRequest, timeout: Any) -> requests.Response:
        """Answer one prepared request, or raise as requests does for a refused or timed-out one."""
        url = urlsplit(request.url or "")
        host = url.hostname or ""
        if time.time() < self.down_until.get(host, 0.0):
            raise requests.ConnectionError(f"{host} refused the connection (down)", request=request)
        started = time.time()
        target = url.path + (f"?{url.query}" if url.query else "")
        headers = {key.lower(): value for key, value in request.headers.items()}
        body = request.body or b""
        status, answer_headers, payload = self.hosts[host](
            request.method or "GET", target, headers, body.encode() if isinstance(body, str) else body
        )
        if time.time() - started > _read_timeout(timeout):
            raise requests.ReadTimeout(f"{host} did not answer in time", request=request)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(answer_headers)
        response._content = payload
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    @contextmanager
    def installed(self) -> Iterator[InProcessHosts]:
        """Inside the block, requests to these hosts go to their fakes (others go out as usual)."""
        original = HTTPAdapter.send
        hosts = self

        def send(adapter: HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
            if urlsplit(request.url or "").hostname in hosts.hosts:
                return hosts.send(request, kwargs.get("timeout", args[1] if len(args) > 1 else None))
            return original(adapter, request, *args, **kwargs)

        HTTPAdapter.send = send  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            HTTPAdapter.send = original  # type: ignore[method-assign]


def _read_timeout(timeout: Any) -> float:
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return float("inf") if timeout is None else float(timeout)
