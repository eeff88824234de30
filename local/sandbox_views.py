"""The Kommo sandbox seen by people: per lead, the chat as the client sees it, the notes and the tasks
(JSON for scripts and tests, a plain HTML page for a browser)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any, Protocol


class SandboxRecords(Protocol):
    leads: dict[int, dict[str, Any]]
    contacts: dict[int, dict[str, Any]]
    chat: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    tasks: list[dict[str, Any]]


def lead_views(sandbox: SandboxRecords) -> list[dict[str, Any]]:
    """Each lead with a message, a note or a task: its chat in order, its notes and its tasks."""
    active = {line["lead_id"] for line in sandbox.chat} | {note["lead_id"] for note in sandbox.notes}
    active |= {task.get("entity_id") for task in sandbox.tasks if task.get("entity_type") == "leads"}
    views = []
    for lead_id in sorted(lead_id for lead_id in active if lead_id in sandbox.leads):
        lead = sandbox.leads[lead_id]
        contact = sandbox.contacts.get(lead["_embedded"]["contacts"][0]["id"], {})
        views.append(
            {
                "lead_id": lead_id,
                "lead": lead["name"],
                "client": contact.get("name", ""),
                "responsible_user_id": lead["responsible_user_id"],
                "chat": [
                    {"at": _time(line["at"]), "from": line["from"], "text": line["text"]}
                    for line in sandbox.chat
                    if line["lead_id"] == lead_id
                ],
                "notes": [_note_text(note) for note in sandbox.notes if note["lead_id"] == lead_id],
                "tasks": [
                    {
                        "text": task.get("text", ""),
                        "task_type_id": task.get("task_type_id"),
                        "responsible_user_id": task.get("responsible_user_id"),
                        "complete_till": _time(task["complete_till"]) if task.get("complete_till") else None,
                    }
                    for task in sandbox.tasks
                    if task.get("entity_type") == "leads" and task.get("entity_id") == lead_id
                ],
            }
        )
    return views


def html_page(views: list[dict[str, Any]]) -> str:
    """The views as one HTML page that refreshes itself every 3 s."""
    sections = []
    for view in views:
        chat = "".join(
            f'<li class="{"client" if line["from"] == "client" else "team"}"><small>{line["at"]} · '
            f"{escape(str(line['from']))}</small><br>{escape(line['text'])}</li>"
            for line in view["chat"]
        )
        notes = "".join(f"<li>{escape(text)}</li>" for text in view["notes"])
        tasks = "".join(f"<li>{escape(task['text'])} (até {task['complete_till']})</li>" for task in view["tasks"])
        sections.append(
            f"<section><h2>{escape(view['lead'])} <small>lead {view['lead_id']}</small></h2>"
            f"<h3>O que o cliente vê</h3><ul class=chat>{chat or '<li>-</li>'}</ul>"
            f"<h3>Notas</h3><ul>{notes or '<li>-</li>'}</ul><h3>Tarefas</h3><ul>{tasks or '<li>-</li>'}</ul></section>"
        )
    body = "".join(sections) or "<p>Nenhuma conversa ainda.</p>"
    return (
        '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">'
        "<title>Kommo sandbox</title><style>body{font-family:sans-serif;max-width:50em;margin:auto}"
        ".chat{list-style:none;padding:0}.chat li{margin:.4em 0;padding:.4em;border-radius:.4em}"
        ".client{background:#eee}.team{background:#dcf8c6;margin-left:4em!important}</style></head>"
        f"<body><h1>Kommo sandbox</h1>{body}</body></html>"
    )


def _note_text(note: dict[str, Any]) -> str:
    return str((note.get("params") or {}).get("text", ""))


def _time(unix: float) -> str:
    return datetime.fromtimestamp(unix).strftime("%H:%M:%S")
