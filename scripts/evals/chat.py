"""The chat models the dialogue set runs with, both served to n8n on loopback by scripts/n8n_fake_model.py's
server (so n8n's OpenAI credential points at the same kind of endpoint either way):

- ScriptedChatModel: the fake model playing a dialogue turn's `model` steps, with placeholders filled from
  what the tools answered (the plumbing: every tool reachable, every check computable);
- RemoteChatModel: every completion forwarded to a real OpenAI-compatible endpoint (EVAL_MODEL_URL,
  EVAL_MODEL, EVAL_MODEL_KEY), the model's name replaced by EVAL_MODEL.

Both record what n8n asked, which is where the tool calls of a turn are read (`tool_calls`). `judge` asks a
judge model (EVAL_JUDGE_URL, EVAL_JUDGE_MODEL, EVAL_JUDGE_KEY) whether an answer meets a rubric.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scripts.evals.checks import MONEY_AFTER, MONEY_BEFORE, PERCENT, TERM, ToolCall
from scripts.evals.dialogues import ModelStep
from scripts.n8n_fake_model import FakeChatModel, Step, content_text

PLACEHOLDER = re.compile(r"\{(now|week|slot:\d+|hold|appointment|appointment_start|price|figure|entry)\}")
TIMEOUT = 60


# ---------------------------------------------------------------------- what a turn's requests show
def tool_calls(requests: list[dict[str, Any]]) -> list[ToolCall]:
    """The tools the model called in a turn, with their arguments and what they answered, in order: the calls
    after the client's message of each request (the memory's earlier turns hold no tool calls, and would not
    count if they did)."""
    calls: dict[str, ToolCall] = {}
    for request in requests:
        messages = request.get("messages") or []
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        for message in messages[last_user + 1 :]:
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                calls.setdefault(str(call.get("id")), ToolCall(str(function.get("name")), arguments_of(function)))
            if message.get("role") == "tool" and str(message.get("tool_call_id")) in calls:
                known = calls[str(message.get("tool_call_id"))]
                calls[str(message.get("tool_call_id"))] = ToolCall(
                    known.name, known.arguments, content_text(message.get("content"))
                )
    return list(calls.values())


def arguments_of(function: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(function.get("arguments") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def tool_answer(result: str) -> Any:
    """What a tool answered, as the agent saw it (n8n hands the model a JSON list of items, an HTTP tool's
    body sometimes under `response`)."""
    try:
        value = json.loads(result)
    except ValueError:
        return result
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("response"), str):
        try:
            value = json.loads(value["response"])
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------------- the scripted model
@dataclass
class ScriptedChatModel(FakeChatModel):
    """The fake model playing a dialogue's steps; a step's placeholders are filled, when its completion is
    asked, from the tools' answers seen so far in the dialogue (`begin_dialogue` forgets them)."""

    seen: dict[str, str] | None = None

    def begin_dialogue(self) -> None:
        self.seen = {}

    def play(self, steps: list[ModelStep]) -> None:
        """A turn: the previous turn's leftovers and requests dropped, these steps queued."""
        self.reset()
        self.script(*(Step(text=step.text, tool=step.tool, arguments=step.arguments) for step in steps))

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        seen = self.seen if self.seen is not None else {}
        for call in tool_calls([request]):
            if call.result:
                seen[call.name] = call.result
        with self._lock:
            if self._script:
                self._script[0] = filled(self._script[0], seen)
        return super().complete(request)


def filled(step: Step, seen: dict[str, str]) -> Step:
    if step.tool:
        arguments = json.loads(fill(json.dumps(step.arguments or {}, ensure_ascii=False), seen, as_text=False))
        return Step(tool=step.tool, arguments=arguments)
    return Step(text=fill(step.text, seen, as_text=True))


def fill(text: str, seen: dict[str, str], *, as_text: bool) -> str:
    """The placeholders of docs/evals.md replaced; one that nothing answered stays as it is (and its check
    fails where it matters)."""
    return PLACEHOLDER.sub(lambda match: value(match.group(1), seen, as_text=as_text) or match.group(0), text)


def value(name: str, seen: dict[str, str], *, as_text: bool) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    if name in ("now", "week"):
        return (now if name == "now" else now + timedelta(days=7)).isoformat()
    if name.startswith("slot:"):
        slots = answered(seen, "check_availability").get("slots") or []
        index = int(name.split(":")[1])
        return when(slots[index]["start"], as_text) if index < len(slots) else ""
    if name == "hold":
        return str(answered(seen, "hold_slot").get("id") or "")
    if name in ("appointment", "appointment_start"):
        appointments = answered(seen, "my_appointments").get("appointments") or [{}]
        first = appointments[0] if appointments else {}
        return str(first.get("id") or "") if name == "appointment" else when(str(first.get("start") or ""), as_text)
    entry, figure = cited(tool_answer(seen.get("search_playbook", "{}")), money_only=name == "price")
    return entry if name == "entry" else figure


def cited(answer: Any, *, money_only: bool) -> tuple[str, str]:
    """The entry of a search_playbook answer ({"entries": [{"id", "kind", "title", "body"}]}) that a scripted
    answer quotes: the first with a price (or any figure), and that figure as written; else the first entry."""
    entries = answer.get("entries") if isinstance(answer, dict) else None
    entries = [entry for entry in entries or [] if isinstance(entry, dict)]
    patterns = (MONEY_BEFORE, MONEY_AFTER) if money_only else (MONEY_BEFORE, MONEY_AFTER, PERCENT, TERM)
    for entry in entries:
        text = f"{entry.get('title', '')} {entry.get('body', '')}"
        found = [match for pattern in patterns if (match := pattern.search(text))]
        if found:
            return str(entry.get("id", "")), min(found, key=lambda match: match.start()).group(0)
    return (str(entries[0].get("id", "")) if entries else ""), ""


def answered(seen: dict[str, str], tool: str) -> dict[str, Any]:
    answer = tool_answer(seen.get(tool, "{}"))
    return answer if isinstance(answer, dict) else {}


def when(start: str, as_text: bool) -> str:
    """A slot's start: as the tools take it (ISO 8601), or as a person reads it (04/12 às 10:00)."""
    if not start or not as_text:
        return start
    moment = datetime.fromisoformat(start)
    return f"{moment:%d/%m} às {moment:%H:%M}"


# ---------------------------------------------------------------------- a real model
@dataclass
class RemoteChatModel(FakeChatModel):
    """Every completion n8n asks for, forwarded to a real OpenAI-compatible endpoint and recorded."""

    upstream: str = ""
    upstream_model: str = ""
    upstream_key: str = ""

    def begin_dialogue(self) -> None:
        return

    def play(self, steps: list[ModelStep]) -> None:
        self.reset()  # the real model plays itself: only the requests are kept, per turn

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(request)
        body = request | {"model": self.upstream_model, "stream": False}
        body.pop("stream_options", None)
        status, answer = post_json(f"{self.upstream.rstrip('/')}/chat/completions", body, self.upstream_key)
        if status != 200 or not isinstance(answer, dict) or not answer.get("choices"):
            return {"error": {"message": f"the model endpoint answered {status}", "type": "upstream", "code": 502}}
        return answer  # its usage as the provider reported it (none: the table shows "-", never a guess)


def post_json(url: str, body: dict[str, Any], key: str = "") -> tuple[int, Any]:
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {key}"} if key else {})
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - the configured endpoint
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:500].decode(errors="replace")
    except (OSError, ValueError) as error:
        return 0, str(error)


# ---------------------------------------------------------------------- the judge
JUDGE_INSTRUCTIONS = (
    "Você avalia a resposta de um assistente de vendas no WhatsApp. Responda só com um JSON "
    '{"pass": true|false, "reason": "uma frase"}: pass é true só se a resposta cumpre todos os critérios.'
)


def judge(endpoint: str, model: str, key: str, case: dict[str, Any]) -> tuple[bool | None, str]:
    """The judge model's verdict on one answer: (passed, reason), or (None, why) when it gave none."""
    body = {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": JUDGE_INSTRUCTIONS},
            {"role": "user", "content": json.dumps(case, ensure_ascii=False, indent=1)},
        ],
    }
    status, answer = post_json(f"{endpoint.rstrip('/')}/chat/completions", body, key)
    try:
        text = answer["choices"][0]["message"]["content"]
        verdict = json.loads(text[text.index("{") : text.rindex("}") + 1])
        return bool(verdict["pass"]), str(verdict.get("reason", ""))[:300]
    except (KeyError, IndexError, TypeError, ValueError):
        return None, f"the judge gave no verdict (status {status})"
