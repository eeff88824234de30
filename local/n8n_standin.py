"""An n8n stand-in: answers the service's n8n contract deterministically, in Portuguese.

It checks the request signature as the shipped workflows do (n8n/src/verify-signature.js: 401 when wrong,
stale or replayed), signs its answers as they do (n8n/src/sign-answer.js), records every request, and answers
like a simple
sales assistant would: a first message (kind proactive) -> a template outside the 24-hour window,
a greeting naming the trigger inside it; a human is asked for -> handover; a meeting -> a `schedule` action for
the next working day at 10:00 São Paulo (the service books it and confirms to the client); a voice note or a
picture -> acknowledged; the health ping -> {"ok": true}; otherwise a greeting about the lead's area. One
implementation for the tests, the benchmarks and the local run (started by `make run` when N8N_BASE_URL is not set).
Tests steer it: `respond_with(...)` for the next answers (signed, unless `signature` says otherwise),
`holds[conversation_id]` (an Event) to keep n8n "thinking" about one conversation until the test sets it.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from local.loopback import LoopbackServer, ServedOnLoopback
from sales_assistant.adapters.n8n_signature import SIGNATURE_HEADER, sign_answer, sign_request

HUMAN = re.compile(r"\b(humano|atendente|pessoa|consultor)\b", re.IGNORECASE)
AMOUNT = re.compile(r"(?P<number>\d+(?:,\d+)?)\s*(?P<thousands>mil)\b|R\$\s*(?P<reais>\d{1,3}(?:\.\d{3})+|\d+)", re.I)
MEETING = re.compile(r"\b(agendar|agenda|reuni[aã]o|hor[aá]rio|visita)\b", re.IGNORECASE)
MAX_AGE_SECONDS = 300  # as n8n/src/verify-signature.js
MAX_SKEW_SECONDS = 30
Signature = Literal["valid", "missing", "wrong"]


@dataclass
class Canned:
    """A forced answer: HTTP status and raw body, after an optional delay."""

    status: int = 200
    body: bytes = b"{}"
    delay_seconds: float = 0.0
    signature: Signature = "valid"


@dataclass
class N8nStandIn(ServedOnLoopback):
    secret: str
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    holds: dict[str, threading.Event] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # request id -> until when a replay is refused
    _canned: deque[Canned] = field(default_factory=deque)
    _server: LoopbackServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _http(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if method != "POST":
            return 405, {"content-type": "application/json"}, b'{"message": "POST only"}'
        return self.handle(target, headers, raw)

    def respond_with(
        self,
        status: int = 200,
        body: Any = None,
        *,
        raw: bytes | None = None,
        delay_seconds: float = 0,
        signature: Signature = "valid",
    ) -> None:
        """Force the next answer (queued: call several times for several answers); `signature` "missing"
        or "wrong" answers as a workflow that does not sign, or signs with another secret."""
        payload = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        self._canned.append(Canned(status, payload, delay_seconds, signature))

    def reset(self) -> None:
        self.requests.clear()
        self._canned.clear()
        self.holds.clear()
        self.seen.clear()

    def handle(self, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        refused = self._refusal(urlsplit(target).path, headers, raw)
        if refused:
            return 401, {"content-type": "application/json"}, json.dumps({"message": refused}).encode()
        request = json.loads(raw)
        with self._lock:
            self.requests.append(
                {"path": target, "body": request, "raw": raw, "headers": dict(headers), "at": time.time()}
            )
            canned = self._canned.popleft() if self._canned else None
        hold = self.holds.get(request.get("conversation_id", ""))
        if hold is not None:
            hold.wait(timeout=30)
        if canned:
            time.sleep(canned.delay_seconds)
            return canned.status, self._signed(headers, canned.body, canned.signature), canned.body
        payload = json.dumps(answer(request), ensure_ascii=False).encode()
        return 200, self._signed(headers, payload, "valid"), payload

    def _refusal(self, path: str, headers: dict[str, str], raw: bytes) -> str:
        """Why the request is refused ("" when it is signed, fresh and new), as the shipped workflows say it."""
        timestamp, request_id = headers.get("x-timestamp", ""), headers.get("x-request-id", "")
        now = time.time()
        if not timestamp.isdigit() or not re.fullmatch(r"[0-9A-Za-z_-]{16,64}", request_id):
            return "missing or malformed X-Timestamp or X-Request-Id"
        if now - int(timestamp) > MAX_AGE_SECONDS:
            return "request too old"
        if int(timestamp) - now > MAX_SKEW_SECONDS:
            return "request dated in the future"
        expected = sign_request(self.secret, path, timestamp, request_id, raw)
        if not hmac.compare_digest(headers.get(SIGNATURE_HEADER.lower(), ""), expected):
            return "bad signature"
        with self._lock:
            self.seen = {seen: until for seen, until in self.seen.items() if until > now}
            if request_id in self.seen:
                return "replayed request"
            self.seen[request_id] = now + MAX_AGE_SECONDS + MAX_SKEW_SECONDS
        return ""

    def _signed(self, headers: dict[str, str], body: bytes, signature: Signature) -> dict[str, str]:
        answer_headers = {"content-type": "application/json"}
        if signature != "missing":
            secret = self.secret if signature == "valid" else "not-the-signing-secret"
            answer_headers[SIGNATURE_HEADER] = sign_answer(secret, headers.get("x-request-id", ""), body)
        return answer_headers


TRIGGER_PHRASES = {
    "form": "preencheu nosso formulário",
    "material": "baixou nosso material",
    "meeting_request": "pediu uma reunião",
}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The stand-in's deterministic answer to a contract request; a reply also fills the qualification fields
    the client's messages state (a `set_fields` action beside the answer's others)."""
    answered = _answer(request)
    texts = " ".join(message.get("text", "") for message in request.get("messages") or [])
    stated = qualification_stated(request.get("qualification") or [], texts)
    if stated and request.get("kind") == "reply":
        answered["actions"] = [*answered.get("actions", []), {"type": "set_fields", "fields": stated}]
    return answered


def qualification_stated(fields: list[dict[str, Any]], texts: str) -> dict[str, Any]:
    """What the client's messages say of the fields n8n may fill: an amount in reais ("80 mil", "R$ 80.000")
    for a numeric field, an allowed value named in the text for a list field."""
    stated: dict[str, Any] = {}
    amount = AMOUNT.search(texts)
    for field_ in fields:
        if field_["type"] == "numeric" and amount:
            if amount["thousands"]:
                stated[field_["name"]] = round(float(amount["number"].replace(",", ".")) * 1000)
            else:
                stated[field_["name"]] = int(amount["reais"].replace(".", ""))
        elif field_["type"] == "select":
            named = [value for value in field_.get("values", []) if value.lower() in texts.lower()]
            stated.update({field_["name"]: named[0]} if named else {})
    return stated


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    messages = request.get("messages") or []
    texts = " ".join(message.get("text", "") for message in messages)
    first_name = (request.get("contact", {}).get("name") or "").split(" ")[0] or "tudo bem"
    if request.get("kind") == "health":  # the health workflow's answer (n8n/workflows/kommo-health.json)
        return {"ok": True}
    if request.get("kind") == "proactive":
        return first_message(request, first_name)
    if request.get("kind") == "scheduling":
        return {"stored": True}  # as the kommo-scheduling workflow answers
    if request.get("kind") == "follow_up":
        attempt = (request.get("follow_up") or {}).get("attempt", 1)
        return {"reply": f"Oi, {first_name}! Passando de novo ({attempt}º contato): ficou alguma dúvida? Estou aqui."}
    if HUMAN.search(texts):
        return {
            "reply": f"Claro, {first_name}! Vou chamar um consultor para falar com você agora mesmo. 👍",
            "actions": [{"type": "handover", "reason": "o cliente pediu atendimento humano"}],
        }
    if MEETING.search(texts):
        slot = meeting_slot(time.time())
        return {
            "reply": f"Ótimo! Marquei {slot:%d/%m} às {slot:%H:%M} com seu consultor; a confirmação já vem. 📅",
            "actions": [{"type": "schedule", "slot": slot.isoformat(), "reason": "o cliente quer marcar uma conversa"}],
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


def meeting_slot(now: float) -> datetime:
    """The slot the stand-in books: the next working day (Monday to Friday, not a Brazilian holiday) at
    10:00 São Paulo, as the real agent would pick from the availability tool."""
    import holidays

    zone = ZoneInfo("America/Sao_Paulo")
    day = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
    national = holidays.country_holidays("BR", years=[day.year, day.year + 1])
    while day.weekday() >= 5 or day in national:
        day += timedelta(days=1)
    return datetime.combine(day, dtime(10, 0), zone)


def first_message(request: dict[str, Any], first_name: str) -> dict[str, Any]:
    """A proactive first message: a template outside the 24-hour window, free text inside it."""
    if not request.get("window_open"):
        return {"template": {"name": "boas_vindas", "params": {"nome": first_name}}}
    salesperson = (request.get("vendor") or {}).get("name") or "nossa equipe"
    trigger = request.get("trigger") or {}
    did = TRIGGER_PHRASES.get(trigger.get("kind", ""), "entrou em contato")
    return {"reply": f"Olá, {first_name}! Aqui é o assistente de {salesperson}. Vi que você {did}: posso te ajudar?"}
