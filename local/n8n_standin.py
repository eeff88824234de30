"""An n8n stand-in: answers the service's n8n contract deterministically, in Portuguese.

It checks the request signature (401 when wrong), records every request, and answers like a simple
sales assistant would: a human is asked for -> handover; a meeting -> schedule; a voice note or a
picture -> acknowledged; otherwise a greeting about the lead's area. One implementation for the
tests, the benchmarks and the local run (started by `make run` when N8N_BASE_URL is not set).
Tests steer it: `respond_with(...)` for the next answers, `holds[conversation_id]` (an Event) to keep
n8n "thinking" about one conversation until the test sets it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HUMAN = re.compile(r"\b(humano|atendente|pessoa|consultor)\b", re.IGNORECASE)
MEETING = re.compile(r"\b(agendar|agenda|reuni[aã]o|hor[aá]rio|visita)\b", re.IGNORECASE)


@dataclass
class Canned:
    """A forced answer: HTTP status and raw body, after an optional delay."""

    status: int = 200
    body: bytes = b"{}"
    delay_seconds: float = 0.0


@dataclass
class N8nStandIn:
    secret: str
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    holds: dict[str, threading.Event] = field(default_factory=dict)
    _canned: deque[Canned] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> N8nStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond_with(
        self, status: int = 200, body: Any = None, *, raw: bytes | None = None, delay_seconds: float = 0
    ) -> None:
        """Force the next answer (queued: call several times for several answers)."""
        payload = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        self._canned.append(Canned(status, payload, delay_seconds))

    def reset(self) -> None:
        self.requests.clear()
        self._canned.clear()
        self.holds.clear()

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        timestamp = headers.get("x-timestamp", "")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(headers.get("x-signature", ""), expected):
            return 401, b'{"message": "bad signature"}'
        request = json.loads(raw)
        with self._lock:
            self.requests.append({"path": path, "body": request, "at": time.time()})
            canned = self._canned.popleft() if self._canned else None
        hold = self.holds.get(request.get("conversation_id", ""))
        if hold is not None:
            hold.wait(timeout=30)
        if canned:
            time.sleep(canned.delay_seconds)
            return canned.status, canned.body
        return 200, json.dumps(answer(request), ensure_ascii=False).encode()


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The stand-in's deterministic answer to a contract request."""
    messages = request.get("messages") or []
    texts = " ".join(message.get("text", "") for message in messages)
    first_name = (request.get("contact", {}).get("name") or "").split(" ")[0] or "tudo bem"
    if HUMAN.search(texts):
        return {
            "reply": f"Claro, {first_name}! Vou chamar um consultor para falar com você agora mesmo. 👍",
            "actions": [{"type": "handover", "reason": "o cliente pediu atendimento humano"}],
        }
    if MEETING.search(texts):
        return {
            "reply": "Ótimo! Vou verificar a agenda do seu consultor e já te passo os horários disponíveis. 📅",
            "actions": [{"type": "schedule", "reason": "o cliente quer marcar uma conversa"}],
        }
    kinds = {message.get("type") for message in messages}
    if kinds & {"voice", "audio"}:
        return {"reply": f"Recebi seu áudio, {first_name}! Já vou ouvir e te respondo. 🎧"}
    if kinds & {"picture", "file", "video"}:
        return {"reply": f"Recebi seu arquivo, {first_name}! Vou analisar e já te retorno."}
    if not request.get("window_open", True):
        return {"template": {"name": "retomada_contato", "params": {"nome": first_name}}}
    area = request.get("lead", {}).get("area") or "nossos planos"
    count = len(messages)
    received = "suas mensagens" if count > 1 else "sua mensagem"
    return {"reply": f"Olá, {first_name}! Recebi {received} sobre {area}. Como posso te ajudar hoje?"}


def _handler(standin: N8nStandIn) -> type[BaseHTTPRequestHandler]:
    class StandInRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, payload = standin.handle(self.path, headers, raw)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

    return StandInRequestHandler
