"""Builds the shipped n8n workflows, n8n/workflows/*.json, from this file and the Code nodes' sources
in n8n/src/*.js (one copy of the signature check for all the workflows).

    python scripts/n8n_workflows.py           # rewrite n8n/workflows/*.json
    python scripts/n8n_workflows.py --check   # fail when they differ from what this file builds

Node types and parameters are n8n 1.123's (checked against the installed package's node
definitions, and run by `make test-n8n`). Edit here or in n8n/src/, not in the JSON files; a
workflow changed in n8n's editor can be exported over its JSON file, then brought back here.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "n8n" / "src"
WORKFLOWS = ROOT / "n8n" / "workflows"
NAMESPACE = uuid.UUID("6f1d0c3e-9a57-4b1e-8f36-2c4d8e0b7a15")  # stable node ids across rebuilds

CHAT_MODEL = {"id": "kommoChatModel01", "name": "Kommo assistant: chat model"}
DATABASE = {"id": "kommoSupabase001", "name": "Kommo assistant: Supabase"}
SERVICE_API = {"id": "kommoServiceApi1", "name": "Kommo assistant: service API"}
MODEL_NAME = "gpt-4.1-mini"

Node = dict[str, Any]


class Workflow:
    """One workflow: nodes, and connections by node name."""

    def __init__(self, workflow_id: str, name: str) -> None:
        self.id, self.name = workflow_id, name
        self.nodes: list[Node] = []
        self.connections: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}

    def add(self, name: str, node_type: str, version: float, position: tuple[int, int], **fields: Any) -> str:
        node: Node = {
            "parameters": fields.pop("parameters", {}),
            "id": str(uuid.uuid5(NAMESPACE, f"{self.id}/{name}")),
            "name": name,
            "type": node_type,
            "typeVersion": version,
            "position": list(position),
            **fields,
        }
        self.nodes.append(node)
        return name

    def link(self, source: str, target: str, *, output: int = 0, kind: str = "main") -> None:
        outputs = self.connections.setdefault(source, {}).setdefault(kind, [])
        while len(outputs) <= output:
            outputs.append([])
        outputs[output].append({"node": target, "type": kind, "index": 0})

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "nodes": self.nodes,
            "connections": self.connections,
            "active": False,
            "settings": {"executionOrder": "v1", "callerPolicy": "workflowsFromSameOwner"},
            "pinData": {},
            "meta": {"templateCredsSetupCompleted": True},
            "tags": [],
        }


# ---------------------------------------------------------------------- node builders
def code(flow: Workflow, name: str, position: tuple[int, int], source: str) -> str:
    """A Code node (JavaScript, once for all items) whose code is n8n/src/<source> or inline code."""
    js = (SOURCES / source).read_text() if source.endswith(".js") else source
    return flow.add(name, "n8n-nodes-base.code", 2, position, parameters={"jsCode": js})


def webhook(flow: Workflow, path: str) -> str:
    """POST /webhook/<path>, answered by a Respond to Webhook node, keeping the raw body for the signature."""
    return flow.add(
        "Webhook",
        "n8n-nodes-base.webhook",
        2.1,
        (0, 300),
        parameters={"httpMethod": "POST", "path": path, "responseMode": "responseNode", "options": {"rawBody": True}},
        webhookId=str(uuid.uuid5(NAMESPACE, f"webhook/{path}")),
    )


def condition(flow: Workflow, name: str, position: tuple[int, int], expression: str) -> str:
    """An If node: true when the boolean expression is true."""
    return flow.add(
        name,
        "n8n-nodes-base.if",
        2.2,
        position,
        parameters={
            "conditions": {
                "options": {"caseSensitive": True, "leftValue": "", "typeValidation": "strict", "version": 2},
                "conditions": [
                    {
                        "id": str(uuid.uuid5(NAMESPACE, f"{flow.id}/{name}/condition")),
                        "leftValue": expression,
                        "rightValue": "",
                        "operator": {"type": "boolean", "operation": "true", "singleValue": True},
                    }
                ],
                "combinator": "and",
            },
            "options": {},
        },
    )


def respond(flow: Workflow, name: str, position: tuple[int, int], body: str | None = None, status: int = 200) -> str:
    """Respond to Webhook: the incoming item as JSON, or `body` (an expression) with `status`."""
    parameters: dict[str, Any] = {"respondWith": "firstIncomingItem", "options": {"responseCode": status}}
    if body is not None:
        parameters = {"respondWith": "json", "responseBody": body, "options": {"responseCode": status}}
    return flow.add(name, "n8n-nodes-base.respondToWebhook", 1.4, position, parameters=parameters)


SEEN_REQUEST = (  # the request id, kept 330 s (the signature's 300 s window and 30 s of skew); expired ones dropped
    "WITH expired AS (DELETE FROM n8n_seen_requests WHERE seen_until < now()) "
    "INSERT INTO n8n_seen_requests (request_id, seen_until) VALUES ($1, now() + interval '330 seconds') "
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
)


def signed_entry(flow: Workflow, path: str) -> str:
    """Webhook -> Verify signature -> Signed? (false: 401) -> Remember request -> New request? (false, a
    replay: 401) -> Signed request (the verified request again, for the workflow's own nodes). Returns
    that last node's name."""
    webhook(flow, path)
    code(flow, "Verify signature", (220, 300), "verify-signature.js")
    condition(flow, "Signed?", (440, 300), "={{ $json.signed }}")
    respond(
        flow,
        "Refuse (401)",
        (660, 520),
        "={{ { error: 'unauthorized', message: $json.reason } }}",
        status=401,
    )
    flow.add(  # one INSERT: two deliveries of one request at once cannot both pass
        "Remember request",
        "n8n-nodes-base.postgres",
        2.6,
        (440, 80),
        parameters={
            "operation": "executeQuery",
            "query": SEEN_REQUEST,
            "options": {"queryReplacement": "={{ $json.request_id }}"},
        },
        credentials={"postgres": DATABASE},
        alwaysOutputData=True,  # no row (a replay) still reaches New request?
        onError="continueErrorOutput",
    )
    respond(
        flow,
        "Replay check failed (503)",
        (660, -120),
        "={{ { error: 'replay_check_failed', message: 'the database failed' } }}",
        status=503,
    )
    condition(flow, "New request?", (660, 80), "={{ Boolean($json.request_id) }}")
    respond(
        flow,
        "Refuse replay (401)",
        (880, 300),
        "={{ { error: 'unauthorized', message: 'replayed request' } }}",
        status=401,
    )
    code(flow, "Signed request", (880, 80), "return [{ json: $('Verify signature').first().json }];")
    flow.link("Webhook", "Verify signature")
    flow.link("Verify signature", "Signed?")
    flow.link("Signed?", "Remember request")
    flow.link("Signed?", "Refuse (401)", output=1)
    flow.link("Remember request", "New request?")
    flow.link("Remember request", "Replay check failed (503)", output=1)
    flow.link("New request?", "Signed request")
    flow.link("New request?", "Refuse replay (401)", output=1)
    return "Signed request"


def signed_answer(flow: Workflow, position: tuple[int, int]) -> str:
    """Sign answer (n8n/src/sign-answer.js) -> Answer: the incoming item as JSON text, with its
    X-Signature-V2. Returns the node to link into."""
    code(flow, "Sign answer", position, "sign-answer.js")
    flow.add(
        "Answer",
        "n8n-nodes-base.respondToWebhook",
        1.4,
        (position[0] + 220, position[1]),
        parameters={
            "respondWith": "text",  # the signed text as it is
            "responseBody": "={{ $json.body }}",
            "options": {
                "responseCode": 200,
                "responseHeaders": {
                    "entries": [
                        {"name": "Content-Type", "value": "application/json"},
                        {"name": "X-Signature-V2", "value": "={{ $json.signature }}"},
                    ]
                },
            },
        },
    )
    flow.link("Sign answer", "Answer")
    return "Sign answer"


def agent(flow: Workflow, position: tuple[int, int], *, max_iterations: int) -> str:
    """The AI Agent (tools agent), prompt and system message from the previous Code node, with the
    OpenAI-compatible chat model attached through Count tokens (n8n/src/count-tokens.js)."""
    flow.add(
        "AI Agent",
        "@n8n/n8n-nodes-langchain.agent",
        3,
        position,
        parameters={
            "promptType": "define",
            "text": "={{ $json.prompt }}",
            "options": {
                "systemMessage": "={{ $json.system }}",
                "maxIterations": max_iterations,
                "returnIntermediateSteps": True,
                "enableStreaming": False,
                "passthroughBinaryImages": False,
            },
        },
        onError="continueErrorOutput",
    )
    flow.add(
        "Chat model",
        "@n8n/n8n-nodes-langchain.lmChatOpenAi",
        1.3,
        (position[0] - 120, position[1] + 240),
        parameters={
            "model": {"__rl": True, "mode": "id", "value": MODEL_NAME},
            "responsesApiEnabled": False,  # chat completions: what OpenAI-compatible servers speak
            "options": {"temperature": 0.3, "timeout": 12000, "maxRetries": 0},  # within the service's 20 s
        },
        credentials={"openAiApi": CHAT_MODEL},
    )
    flow.add(  # the chat model passed on as it is, its token usage counted for the answer's `usage`
        "Count tokens",
        "@n8n/n8n-nodes-langchain.code",
        1,
        (position[0] - 120, position[1] + 420),
        parameters={
            "code": {"supplyData": {"code": (SOURCES / "count-tokens.js").read_text()}},
            "inputs": {"input": [{"type": "ai_languageModel", "maxConnections": 1, "required": True}]},
            "outputs": {"output": [{"type": "ai_languageModel"}]},
        },
    )
    flow.link("Chat model", "Count tokens", kind="ai_languageModel")
    flow.link("Count tokens", "AI Agent", kind="ai_languageModel")
    # the model failing (unreachable, timeout, bad key): a 502, which the service retries once before
    # sending its fallback text
    respond(
        flow,
        "AI failed (502)",
        (position[0] + 360, position[1] - 160),
        "={{ { error: 'ai_failed', message: String(($json.error && $json.error.message) || $json.error "
        "|| 'the AI agent failed') } }}",
        status=502,
    )
    flow.link("AI Agent", "AI failed (502)", output=1)
    return "AI Agent"


def service_tool(
    flow: Workflow,
    name: str,
    position: tuple[int, int],
    description: str,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: str | None = None,
) -> None:
    """An HTTP Request tool calling the service's API (bearer API_TOKEN from the credential); the
    service's answer goes back to the agent whatever its status (a 409 lists the nearest free slots)."""
    parameters: dict[str, Any] = {
        "toolDescription": description,
        "method": method,
        "url": "={{ $('Prepare conversation').first().json.api_url }}" + path,
        "authentication": "genericCredentialType",
        "genericAuthType": "httpBearerAuth",
    }
    if query:
        parameters |= {
            "sendQuery": True,
            "specifyQuery": "keypair",
            "queryParameters": {"parameters": [{"name": key, "value": value} for key, value in query.items()]},
        }
    if body:
        parameters |= {"sendBody": True, "contentType": "json", "specifyBody": "json", "jsonBody": body}
    parameters["options"] = {"timeout": 8000, "response": {"response": {"neverError": True}}}
    flow.add(
        name,
        "n8n-nodes-base.httpRequestTool",
        4.3,
        position,
        parameters=parameters,
        credentials={"httpBearerAuth": SERVICE_API},
        onError="continueRegularOutput",  # an unreachable service is told to the agent, not a crash
    )
    flow.link(name, "AI Agent", kind="ai_tool")


def code_tool(
    flow: Workflow,
    name: str,
    position: tuple[int, int],
    description: str,
    source: str,
    properties: dict[str, Any],
) -> None:
    """A Code tool (n8n/src/<source>) whose calls the workflow's last node turns into the contract's actions;
    the agent gives every one of `properties` (a JSON Schema each)."""
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    flow.add(
        name,
        "@n8n/n8n-nodes-langchain.toolCode",
        1.3,
        position,
        parameters={
            "description": description,
            "language": "javaScript",
            "jsCode": (SOURCES / source).read_text(),
            "specifyInputSchema": True,
            "schemaType": "manual",
            "inputSchema": json.dumps(schema, indent=2, ensure_ascii=False),
        },
    )
    flow.link(name, "AI Agent", kind="ai_tool")


# ---------------------------------------------------------------------- the workflows
CONVERSATION = "$('Prepare conversation').first().json"
# the appointment the agent names (an id my_appointments gave), kept inside its path segment
APPOINTMENT_ID = (
    "{{ encodeURIComponent($fromAI('appointment_id', 'id da reunião, como my_appointments o deu (apt-...)', "
    "'string')) }}"
)
# The conversation's lead's appointments to come, from n8n's agenda (every change the service forwards), with
# start and end as the service sent them (the salesperson's offset); always one row, an empty list included.
LEAD_APPOINTMENTS = """SELECT coalesce(json_agg(json_build_object('id', id, 'start', payload->>'start',
    'end', payload->>'end', 'status', status) ORDER BY starts_at), '[]'::json) AS appointments
FROM agenda WHERE lead_id = $1 AND status <> 'cancelled' AND ends_at > now()"""


# The playbook of the lead's area (n8n/supabase/schema.sql: playbook_for_area), read at every request so that
# the sales team's edits are live at the next message; the area as a JSON value (n8n would split a text at commas).
READ_PLAYBOOK = "SELECT playbook_for_area($1::jsonb->>'area') AS playbook"
# The playbook entries of the lead's area (FAQ, offers valid today, objections) that match the agent's words,
# best first; always one row, an empty list included.
SEARCH_PLAYBOOK = """SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'title', title, 'body', body)
    ORDER BY rank DESC, id), '[]'::json) AS entries
FROM search_playbook($1::jsonb->>'area', $1::jsonb->>'query', 5)"""


def playbook(flow: Workflow, signed: str) -> str:
    """`signed` -> Read playbook (the database failing: Database failed (503), which the service retries) ->
    Playbook instructions (n8n/src/playbook-instructions.js). Returns that last node's name."""
    respond(
        flow,
        "Database failed (503)",
        (1320, -300),
        "={{ { error: 'database_error', message: String(($json.error && $json.error.message) || $json.error "
        "|| 'the database failed') } }}",
        status=503,
    )
    postgres(
        flow,
        "Read playbook",
        (1100, -100),
        {
            "operation": "executeQuery",
            "query": READ_PLAYBOOK,
            "options": {"queryReplacement": "={{ JSON.stringify({ area: $json.request.lead.area || '' }) }}"},
        },
    )
    code(flow, "Playbook instructions", (1320, -100), "playbook-instructions.js")
    flow.link(signed, "Read playbook")
    flow.link("Read playbook", "Playbook instructions")
    return "Playbook instructions"


def search_playbook(flow: Workflow, position: tuple[int, int]) -> None:
    """The agent's search_playbook tool: the playbook entries of the lead's area about its words, with their ids."""
    flow.add(
        "search_playbook",
        "n8n-nodes-base.postgresTool",
        2.6,
        position,
        parameters={
            "descriptionType": "manual",
            "toolDescription": "Procura no playbook da empresa (perguntas frequentes, ofertas válidas hoje e respostas "
            "a objeções, da área do cliente) as entradas sobre `query`, palavras-chave em português. Responde "
            '{"entries": [{"id", "kind", "title", "body"}]}, as mais relevantes primeiro; uma lista vazia quer dizer '
            "que o playbook não trata disso.",
            "operation": "executeQuery",
            "query": SEARCH_PLAYBOOK,
            "options": {
                "queryReplacement": "={{ JSON.stringify({ area: " + CONVERSATION + ".area, query: $fromAI('query', "
                "'o que procurar no playbook, em palavras-chave', 'string') }) }}"
            },
        },
        credentials={"postgres": DATABASE},
        onError="continueRegularOutput",  # a database failure is told to the agent, not a crash
    )
    flow.link("search_playbook", "AI Agent", kind="ai_tool")


def reply_workflow() -> Workflow:
    flow = Workflow("kommoReplyFlow01", "Kommo assistant: reply (kommo-reply)")
    signed = signed_entry(flow, "kommo-reply")
    code(flow, "Prepare conversation", (660, 200), "prepare-reply.js")
    condition(flow, "Window open?", (880, 200), "={{ $json.window_open }}")
    agent(flow, (1120, 100), max_iterations=8)
    code(flow, "Build answer", (1480, 100), "answer-reply.js")
    code(flow, "Template answer", (1120, 420), "template-reply.js")
    signed_answer(flow, (1720, 200))
    flow.add(
        "Memory",
        "@n8n/n8n-nodes-langchain.memoryPostgresChat",
        1.3,
        (1080, 340),
        parameters={
            "sessionIdType": "customKey",
            "sessionKey": "={{ " + CONVERSATION + ".conversation_id }}",
            "tableName": "n8n_chat_histories",
            "contextWindowLength": 20,
        },
        credentials={"postgres": DATABASE},
    )
    flow.link("Memory", "AI Agent", kind="ai_memory")
    service_tool(
        flow,
        "check_availability",
        (1200, 360),
        "Lista os horários livres do consultor do cliente entre `from` e `to` (ISO 8601 com fuso). "
        'Responde {"vendor_id", "timezone", "slots": [{"start", "end"}]}.',
        "GET",
        "/vendors/{{ " + CONVERSATION + ".vendor_id }}/availability",
        query={
            "from": "={{ $fromAI('from', 'início do período, ISO 8601 com fuso, ex. 2026-11-26T08:00:00-03:00', "
            "'string') }}",
            "to": "={{ $fromAI('to', 'fim do período, ISO 8601 com fuso', 'string') }}",
        },
    )
    service_tool(
        flow,
        "hold_slot",
        (1320, 360),
        "Reserva por alguns minutos o horário que o cliente escolheu (`start`, ISO 8601 com fuso, um dos "
        "horários de check_availability), enquanto ele confirma. Responde a reserva com o seu id.",
        "POST",
        "/holds",
        body="={{ JSON.stringify({ vendor_id: " + CONVERSATION + ".vendor_id, lead_id: " + CONVERSATION + ".lead_id, "
        "start: $fromAI('start', 'início do horário escolhido, ISO 8601 com fuso', 'string') }) }}",
    )
    service_tool(
        flow,
        "book_appointment",
        (1440, 360),
        "Marca a conversa com o consultor no horário `start` (ISO 8601 com fuso) que o cliente confirmou; "
        "`hold_id` é o id devolvido por hold_slot (vazio se não houver). Responde a reunião marcada, ou 409 "
        "com os horários livres mais próximos (nearest_free) quando o horário já foi ocupado.",
        "POST",
        "/appointments",
        body="={{ JSON.stringify({ vendor_id: " + CONVERSATION + ".vendor_id, lead_id: " + CONVERSATION + ".lead_id, "
        "start: $fromAI('start', 'início do horário confirmado, ISO 8601 com fuso', 'string'), "
        "idempotency_key: " + CONVERSATION + ".conversation_id + ':' + $fromAI('start', 'início do horário "
        "confirmado, ISO 8601 com fuso', 'string'), "
        "hold_id: $fromAI('hold_id', 'id da reserva de hold_slot, vazio se não houver', 'string', '') "
        "|| undefined }) }}",
    )
    service_tool(
        flow,
        "reschedule_appointment",
        (1200, 480),
        "Remarca uma reunião já marcada do cliente (`appointment_id`, de my_appointments) para `start` (ISO 8601 "
        "com fuso, um horário livre de check_availability) que o cliente confirmou: o novo horário é marcado e o "
        "antigo liberado juntos. Responde a reunião remarcada, ou 409 com os horários livres mais próximos "
        "(nearest_free) quando o horário já foi ocupado.",
        "POST",
        "/appointments/" + APPOINTMENT_ID + "/reschedule",
        body="={{ JSON.stringify({ start: $fromAI('start', 'novo início confirmado, ISO 8601 com fuso', 'string') "
        "}) }}",
    )
    service_tool(
        flow,
        "cancel_appointment",
        (1320, 480),
        "Cancela uma reunião marcada do cliente (`appointment_id`, de my_appointments), só quando ele pedir para "
        "cancelar e não quiser outro horário. Responde a reunião cancelada.",
        "DELETE",
        "/appointments/" + APPOINTMENT_ID,
    )
    flow.add(  # n8n's copy of the service's appointments (the scheduling workflow's agenda), this lead's only
        "my_appointments",
        "n8n-nodes-base.postgresTool",
        2.6,
        (1440, 480),
        parameters={
            "descriptionType": "manual",
            "toolDescription": "Lista as reuniões marcadas do cliente que ainda vão acontecer: "
            '{"appointments": [{"id", "start", "end", "status"}]} (start/end no fuso do consultor). Use antes de '
            "remarcar ou cancelar, e quando o cliente perguntar quando é a reunião.",
            "operation": "executeQuery",
            "query": LEAD_APPOINTMENTS,
            "options": {"queryReplacement": "={{ " + CONVERSATION + ".lead_id }}"},
        },
        credentials={"postgres": DATABASE},
        onError="continueRegularOutput",  # a database failure is told to the agent, not a crash
    )
    flow.link("my_appointments", "AI Agent", kind="ai_tool")
    code_tool(
        flow,
        "hand_over",
        (1560, 360),
        "Passa a conversa para um consultor humano: use quando o cliente pedir um humano, reclamar, ou o assunto "
        "fugir do que você pode resolver. Informe o motivo em `reason`.",
        "hand-over-tool.js",
        {"reason": {"type": "string", "description": "por que um humano deve assumir"}},
    )
    code_tool(
        flow,
        "set_fields",
        (1560, 480),
        "Registra no lead os dados de qualificação que o cliente disse: `fields` é {campo: valor}, só com os "
        "campos e valores permitidos nas instruções (no máximo 20 campos).",
        "set-fields-tool.js",
        {
            "fields": {
                "type": "object",
                "description": 'campo -> valor, ex. {"cidade": "Campinas"}',
                "additionalProperties": True,
            }
        },
    )
    search_playbook(flow, (1680, 360))
    flow.link(playbook(flow, signed), "Prepare conversation")
    flow.link("Prepare conversation", "Window open?")
    flow.link("Window open?", "AI Agent")
    flow.link("Window open?", "Template answer", output=1)
    flow.link("AI Agent", "Build answer")
    flow.link("Build answer", "Sign answer")
    flow.link("Template answer", "Sign answer")
    return flow


def proactive_workflow() -> Workflow:
    flow = Workflow("kommoProactive01", "Kommo assistant: first message (kommo-proactive)")
    signed = signed_entry(flow, "kommo-proactive")
    code(flow, "Prepare conversation", (660, 200), "prepare-proactive.js")
    condition(flow, "Window open?", (880, 200), "={{ $json.window_open }}")
    agent(flow, (1120, 100), max_iterations=3)
    code(flow, "Build answer", (1480, 100), "answer-reply.js")  # the playbook ids it named (no other tool)
    code(flow, "Template answer", (1120, 420), "template-proactive.js")
    signed_answer(flow, (1720, 200))
    search_playbook(flow, (1200, 360))
    flow.link(playbook(flow, signed), "Prepare conversation")
    flow.link("Prepare conversation", "Window open?")
    flow.link("Window open?", "AI Agent")
    flow.link("Window open?", "Template answer", output=1)
    flow.link("AI Agent", "Build answer")
    flow.link("Build answer", "Sign answer")
    flow.link("Template answer", "Sign answer")
    return flow


def follow_up_workflow() -> Workflow:
    """Kind follow_up (asked only inside the 24-hour window): the agent writes the nudge from the
    conversation's turns; no tools, no memory (the request carries the turns)."""
    flow = Workflow("kommoFollowUp001", "Kommo assistant: follow-up (kommo-follow-up)")
    signed = signed_entry(flow, "kommo-follow-up")
    code(flow, "Prepare conversation", (660, 200), "prepare-follow-up.js")
    agent(flow, (900, 200), max_iterations=1)
    code(flow, "Build answer", (1260, 200), "answer-follow-up.js")
    signed_answer(flow, (1480, 200))
    flow.link(signed, "Prepare conversation")
    flow.link("Prepare conversation", "AI Agent")
    flow.link("AI Agent", "Build answer")
    flow.link("Build answer", "Sign answer")
    return flow


# The chat memory (the reply workflow's Postgres Chat Memory, keyed by conversation id) of the contact's
# conversations, deleted in one statement; always one row (0 once already deleted).
ERASE_MEMORY = """WITH deleted AS (
    DELETE FROM n8n_chat_histories WHERE session_id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
    RETURNING session_id
)
SELECT count(*) AS messages, count(DISTINCT session_id) AS conversations FROM deleted"""


def erase_workflow() -> Workflow:
    flow = Workflow("kommoErase000001", "Kommo assistant: erase chat memory (kommo-erase)")
    signed = signed_entry(flow, "kommo-erase")
    respond(
        flow,
        "Database failed (503)",
        (1320, 300),
        "={{ { erased: false, error: 'database_error', message: String(($json.error && $json.error.message) "
        "|| $json.error || 'the database failed') } }}",
        status=503,
    )
    postgres(
        flow,
        "Delete chat memory",
        (1100, 80),
        {
            "operation": "executeQuery",
            "query": ERASE_MEMORY,
            "options": {"queryReplacement": "={{ JSON.stringify($json.request.conversation_ids || []) }}"},
        },
    )
    code(
        flow,
        "Erased",
        (1320, 80),
        "return [{ json: { erased: true, conversations: Number($json.conversations), "
        "messages: Number($json.messages) } }];",
    )
    signed_answer(flow, (1540, 80))
    flow.link(signed, "Delete chat memory")
    flow.link("Delete chat memory", "Erased")
    flow.link("Erased", "Sign answer")
    return flow


def postgres(flow: Workflow, name: str, position: tuple[int, int], parameters: dict[str, Any]) -> str:
    """A Postgres node whose failure answers 503 (the service may retry: every write is idempotent)."""
    flow.add(
        name,
        "n8n-nodes-base.postgres",
        2.6,
        position,
        parameters=parameters,
        credentials={"postgres": DATABASE},
        onError="continueErrorOutput",
    )
    flow.link(name, "Database failed (503)", output=1)
    return name


def upsert(table: dict[str, Any], key: str) -> dict[str, Any]:
    """The Postgres node's upsert (INSERT ... ON CONFLICT (key) DO UPDATE) of the incoming item's fields."""
    return {
        "operation": "upsert",
        "schema": {"__rl": True, "mode": "list", "value": "public", "cachedResultName": "public"},
        "table": table,
        "columns": {
            "mappingMode": "autoMapInputData",
            "value": {},
            "matchingColumns": [key],
            "schema": [],
            "attemptToConvertTypes": False,
            "convertFieldsToString": False,
        },
        "options": {},
    }


def stored_or_refused(flow: Workflow, invalid: str) -> None:
    """The storing workflows' two refusals: a request that does not validate -> Refuse (400) with its
    problems; the database failing -> Database failed (503), which the service retries (every write is
    idempotent)."""
    respond(
        flow,
        "Refuse (400)",
        (1100, 420),
        "={{ { stored: false, error: '" + invalid + "', problems: $json.problems } }}",
        status=400,
    )
    respond(
        flow,
        "Database failed (503)",
        (1540, 420),
        "={{ { stored: false, error: 'database_error', message: String(($json.error && $json.error.message) "
        "|| $json.error || 'the database failed') } }}",
        status=503,
    )


def scheduling_workflow() -> Workflow:
    flow = Workflow("kommoSchedule001", "Kommo assistant: store appointments (kommo-scheduling)")
    signed = signed_entry(flow, "kommo-scheduling")
    appointment = "$('Validate appointment').first().json"
    code(flow, "Validate appointment", (660, 200), "validate-appointment.js")
    condition(flow, "Valid?", (880, 200), "={{ $json.valid }}")
    stored_or_refused(flow, "invalid_appointment")
    postgres(
        flow,
        "Ensure agenda view",
        (1100, 100),
        {
            "operation": "executeQuery",
            "query": "SELECT ensure_agenda_view($1) AS agenda_view",
            "options": {"queryReplacement": "={{ $json.vendor_id }}"},
        },
    )
    code(flow, "Agenda row", (1320, 100), f"return [{{ json: {appointment}.agenda }}];")
    postgres(
        flow,
        "Upsert agenda",
        (1540, 100),
        upsert({"__rl": True, "mode": "list", "value": "agenda", "cachedResultName": "agenda"}, "id"),
    )
    code(flow, "History row", (1760, 100), f"return [{{ json: {appointment}.history }}];")
    postgres(
        flow,
        "Upsert historico",
        (1980, 100),
        upsert({"__rl": True, "mode": "list", "value": "historico", "cachedResultName": "historico"}, "event_key"),
    )
    code(flow, "Stored", (2200, 100), "return [{ json: { stored: true } }];")
    signed_answer(flow, (2420, 100))
    flow.link(signed, "Validate appointment")
    flow.link("Validate appointment", "Valid?")
    flow.link("Valid?", "Ensure agenda view")
    flow.link("Valid?", "Refuse (400)", output=1)
    flow.link("Ensure agenda view", "Agenda row")
    flow.link("Agenda row", "Upsert agenda")
    flow.link("Upsert agenda", "History row")
    flow.link("History row", "Upsert historico")
    flow.link("Upsert historico", "Stored")
    flow.link("Stored", "Sign answer")
    return flow


# Every salesperson into vendedores in one statement (a row already as sent is left untouched, its
# updated_at too), and each one's agenda view.
UPSERT_SALESPEOPLE = """WITH incoming AS (
    SELECT id, nome, areas, ativo
    FROM jsonb_to_recordset($1::jsonb) AS s(id bigint, nome text, areas text[], ativo boolean)
), saved AS (
    INSERT INTO vendedores AS v (id, nome, areas, ativo)
    SELECT id, nome, areas, ativo FROM incoming
    ON CONFLICT (id) DO UPDATE SET nome = excluded.nome, areas = excluded.areas, ativo = excluded.ativo,
        updated_at = now()
    WHERE (v.nome, v.areas, v.ativo) IS DISTINCT FROM (excluded.nome, excluded.areas, excluded.ativo)
    RETURNING v.id
)
SELECT (SELECT count(*) FROM saved) AS changed, (SELECT count(ensure_agenda_view(id)) FROM incoming) AS views"""
"""Every salesperson into vendedores in one statement (a row already as sent is left untouched, its
updated_at too), and each one's agenda view."""


def salespeople_workflow() -> Workflow:
    flow = Workflow("kommoSalespeople", "Kommo assistant: store salespeople (kommo-salespeople)")
    signed = signed_entry(flow, "kommo-salespeople")
    code(flow, "Validate salespeople", (660, 200), "validate-salespeople.js")
    condition(flow, "Valid?", (880, 200), "={{ $json.valid }}")
    stored_or_refused(flow, "invalid_salespeople")
    postgres(
        flow,
        "Upsert vendedores",
        (1100, 100),
        {
            "operation": "executeQuery",
            "query": UPSERT_SALESPEOPLE,
            "options": {"queryReplacement": "={{ $json.rows }}"},
        },
    )
    code(
        flow,
        "Stored",
        (1320, 100),
        "return [{ json: { stored: true, salespeople: $('Validate salespeople').first().json.count, "
        "changed: Number($json.changed) } }];",
    )
    signed_answer(flow, (1540, 100))
    flow.link(signed, "Validate salespeople")
    flow.link("Validate salespeople", "Valid?")
    flow.link("Valid?", "Upsert vendedores")
    flow.link("Valid?", "Refuse (400)", output=1)
    flow.link("Upsert vendedores", "Stored")
    flow.link("Stored", "Sign answer")
    return flow


def health_workflow() -> Workflow:
    flow = Workflow("kommoHealth00001", "Kommo assistant: health (kommo-health)")
    signed = signed_entry(flow, "kommo-health")
    code(flow, "OK", (1100, 80), "return [{ json: { ok: true } }];")
    signed_answer(flow, (1320, 80))
    flow.link(signed, "OK")
    flow.link("OK", "Sign answer")
    return flow


BUILDERS = {
    "kommo-reply.json": reply_workflow,
    "kommo-proactive.json": proactive_workflow,
    "kommo-scheduling.json": scheduling_workflow,
    "kommo-salespeople.json": salespeople_workflow,
    "kommo-health.json": health_workflow,
    "kommo-follow-up.json": follow_up_workflow,
    "kommo-erase.json": erase_workflow,
}


def rendered() -> dict[str, str]:
    """File name -> JSON text of every shipped workflow."""
    return {name: json.dumps(build().json(), indent=2, ensure_ascii=False) + "\n" for name, build in BUILDERS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when n8n/workflows/ is not up to date")
    args = parser.parse_args()
    stale = []
    for name, text in rendered().items():
        path = WORKFLOWS / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        sys.exit(f"out of date: {', '.join(stale)} (run python scripts/n8n_workflows.py)")


if __name__ == "__main__":
    main()
