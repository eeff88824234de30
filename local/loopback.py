"""An HTTP server on 127.0.0.1 in a daemon thread, answering through one function: the shape shared by
the local HTTP API, the Kommo sandbox and the n8n stand-in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
"""(method, target, lower-cased headers, body) -> (status, headers, body)"""


class _Server(ThreadingHTTPServer):
    """One thread per connection (daemon threads: stopping never waits for a slow caller) and a listen
    backlog for bursts: the stdlib's 5 reset the callers of 20 requests at once."""

    request_queue_size = 1024


class LoopbackServer:
    """Serves `answer` on 127.0.0.1:`port` (0 = any free port) until stopped."""

    def __init__(self, answer: Answer, port: int = 0, log: Callable[[str, str, int], None] | None = None) -> None:
        self._server = _Server(("127.0.0.1", port), _handler(answer, log))
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(answer: Answer, log: Callable[[str, str, int], None] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, response_headers, payload = answer(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in response_headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                return  # the caller gave up (its timeout): nothing left to answer
            if log:
                log(self.command, self.path, status)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

    return Handler


class ServedOnLoopback:
    """start(), stop() and url for a fake service whose `_http` answers its requests."""

    port: int
    _server: LoopbackServer | None

    def _http(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def start(self) -> Self:
        """Serve on 127.0.0.1:`port` (0 = any free port); returns self."""
        self._server = LoopbackServer(self._http, self.port).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
