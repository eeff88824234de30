"""A fake OpenAI-compatible chat model on loopback, for running the shipped n8n workflows without a
real provider (the opt-in test `make test-n8n`, or by hand).

    python scripts/n8n_fake_model.py --port 8099     # then point n8n's OpenAI credential at
                                                     # http://127.0.0.1:8099/v1

It serves `POST /v1/chat/completions` (plain JSON, or server-sent events when `stream` is true) and
`GET /v1/models`, records every request and the token usage it reported, and answers deterministically:

- scripted steps first (`script(...)`): a text, a call of the offered tool whose name contains a
  given fragment, with given arguments (or arguments filled in from the tool's JSON schema), or an
  HTTP error;
- otherwise, after a tool result: a text quoting the tool's answer;
- otherwise, when tools are offered: the client asks for a human -> the tool named like `hand_over`;
  for a meeting -> `check_availability`;
- otherwise a greeting that repeats the client's last words (`REPLY_PREFIX` marks it).

Each completion reports its usage as a provider does: about one token per 4 characters of the messages
sent (`prompt_tokens`) and of the answer (`completion_tokens`), kept in `usages`.

The client's words are the last user message, from the reply workflow's `NEW_MESSAGES` header on
(what is known of the lead comes before it).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY_PREFIX = "[modelo de teste]"
HUMAN = re.compile(r"\b(humano|atendente|pessoa|consultor)\b", re.IGNORECASE)
MEETING = re.compile(r"\b(agendar|reuni[aã]o|hor[aá]rio|visita)\b", re.IGNORECASE)
NEW_MESSAGES = "Mensagens novas do cliente:"  # n8n/src/prepare-reply.js


@dataclass
class Step:
    """One scripted answer: `text`, a call of the tool whose name contains `tool`, or an HTTP error
    `status` (the provider failing)."""

    text: str = ""
    tool: str = ""
    arguments: dict[str, Any] | None = None
    status: int = 0


@dataclass
class FakeChatModel:
    port: int = 0
    model: str = "fake-sales-model"
    requests: list[dict[str, Any]] = field(default_factory=list)
    usages: list[dict[str, int]] = field(default_factory=list)
    _script: deque[Step] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ control
    def script(self, *steps: Step) -> None:
        """Queue answers for the next completions (one step per completion)."""
        with self._lock:
            self._script.extend(steps)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.usages.clear()

    @property
    def url(self) -> str:
        """The base URL for n8n's OpenAI credential."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeChatModel:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                return

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": model.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"{self.path}: only /v1/chat/completions is served"}})
                    return
                completion = model.complete(body)
                if "error" in completion:
                    self._send(int(completion["error"]["code"]), completion)
                elif body.get("stream"):
                    self._stream(completion)
                else:
                    self._send(200, completion)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, completion: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for chunk in stream_chunks(completion):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ answers
    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """The chat completion for one request (recorded)."""
        with self._lock:
            self.requests.append(request)
            step = self._script.popleft() if self._script else None
        messages = request.get("messages") or []
        tools = [tool["function"] for tool in request.get("tools") or [] if tool.get("type") == "function"]
        if step is None:
            step = default_step(messages, tools)
        if step.status:
            return {"error": {"message": "scripted failure", "type": "server_error", "code": step.status}}
        if step.tool:
            tool = next((tool for tool in tools if step.tool in tool["name"]), None)
            if tool is not None:
                arguments = step.arguments if step.arguments is not None else fill_arguments(tool)
                return self._completion(messages, tool_call=(tool["name"], arguments))
            step = Step(text=f"{REPLY_PREFIX} (a ferramenta {step.tool} não foi oferecida)")
        return self._completion(messages, text=step.text)

    def _completion(
        self, messages: list[dict[str, Any]], *, text: str = "", tool_call: tuple[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text if tool_call is None else None}
        if tool_call is not None:
            name, arguments = tool_call
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
                }
            ]
        prompt_tokens = tokens(json.dumps(messages, ensure_ascii=False))
        completion_tokens = tokens(text or json.dumps(message.get("tool_calls"), ensure_ascii=False))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        with self._lock:
            self.usages.append(usage)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_call else "stop"}],
            "usage": usage,
        }

    # ------------------------------------------------------------------ what tests look at
    def tokens_reported(self) -> tuple[int, int]:
        """The input (prompt) and output (completion) tokens of every completion since the last reset, summed."""
        with self._lock:
            return sum(u["prompt_tokens"] for u in self.usages), sum(u["completion_tokens"] for u in self.usages)

    def tool_results(self) -> list[str]:
        """The content of every tool result the model was shown, once per tool call, in order."""
        seen: dict[str, str] = {}
        for request in self.requests:
            for message in request.get("messages") or []:
                if message.get("role") == "tool":
                    seen.setdefault(str(message.get("tool_call_id")), content_text(message.get("content")))
        return list(seen.values())


def default_step(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Step:
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return Step(text=f"{REPLY_PREFIX} Consultei o sistema: {str(last.get('content'))[:300]}")
    said = content_text(last.get("content")).rsplit(NEW_MESSAGES, 1)[-1].strip()
    if tools and HUMAN.search(said):
        return Step(tool="hand_over", arguments={"reason": "o cliente pediu atendimento humano"})
    if tools and MEETING.search(said):
        return Step(tool="check_availability")
    return Step(text=f"{REPLY_PREFIX} Olá! Recebi: {said[:200]}")


def tokens(text: str) -> int:
    """A provider-like token count: about one token per 4 characters, at least 1."""
    return max(1, len(text) // 4)


def content_text(content: Any) -> str:
    """The text of a message's content (a string or a list of parts)."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def fill_arguments(tool: dict[str, Any]) -> dict[str, Any]:
    """Plausible arguments for a tool from its JSON schema: dates for from/to/start, text otherwise."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=13, minute=0, second=0, microsecond=0)
    values = {
        "from": tomorrow.replace(hour=11).isoformat(),
        "to": tomorrow.replace(hour=21).isoformat(),
        "start": tomorrow.isoformat(),
        "reason": "teste",
    }
    properties = (tool.get("parameters") or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    for name, schema in properties.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        if name in values:
            arguments[name] = values[name]
        elif kind in ("number", "integer"):
            arguments[name] = 1
        elif kind == "boolean":
            arguments[name] = True
        else:
            arguments[name] = ""
    return arguments


def stream_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """A completion as OpenAI's stream chunks (one delta, then the finish reason and usage)."""
    choice = completion["choices"][0]
    delta: dict[str, Any] = {"role": "assistant", "content": choice["message"].get("content") or ""}
    if choice["message"].get("tool_calls"):
        delta["tool_calls"] = [{"index": 0, **call} for call in choice["message"]["tool_calls"]]
    base = {key: completion[key] for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    return [
        base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        base | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
        base | {"choices": [], "usage": completion["usage"]},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    model = FakeChatModel(port=args.port).start()
    print(f"fake chat model on {model.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        model.stop()


if __name__ == "__main__":
    main()
