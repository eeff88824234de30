"""The funnel report as one pt-BR HTML page: the funnel drawn as inline SVG, the figures per line in a table.
Nothing is loaded from elsewhere (its Content-Security-Policy allows no script and no outside resource)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sales_assistant.api.reports import FunnelReport
    from sales_assistant.texts import Texts

# the steps drawn as the funnel, top to bottom
DRAWN = ("leads_in", "first_message_sent", "replied", "qualified", "meeting_booked")
LABELS = {
    "leads_in": "Leads recebidos",
    "first_message_sent": "Primeira mensagem enviada",
    "first_message_deferred": "Primeira mensagem adiada",
    "replied": "Responderam",
    "qualified": "Qualificados",
    "meeting_booked": "Reuniões marcadas",
    "meeting_rescheduled": "Reuniões remarcadas",
    "meeting_cancelled": "Reuniões canceladas",
    "meeting_held": "Reuniões realizadas",
    "meeting_no_show": "Faltas",
    "handover": "Passados a um vendedor",
    "follow_up_sent": "Retomadas enviadas",
    "follow_up_replied": "Responderam a uma retomada",
    "opted_out": "Pediram para sair",
    "conversations": "Conversas",
    "messages_marketing": "Mensagens de marketing",
    "messages_utility": "Mensagens de utilidade",
    "messages_service": "Respostas na janela de 24 h",
    "tokens_input": "Tokens de entrada (IA)",
    "tokens_output": "Tokens de saída (IA)",
    "cost_whatsapp_micro_usd": "Custo WhatsApp",
    "cost_llm_micro_usd": "Custo IA",
    "cost_aws_micro_usd": "Custo AWS",
    "speed_to_lead_p50_seconds": "Tempo até a 1ª mensagem (p50)",
    "speed_to_lead_p95_seconds": "Tempo até a 1ª mensagem (p95)",
    "cost_per_conversation_usd": "Custo por conversa",
}
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#1f2933;background:#fff}
h1{font-size:22px;margin:0 0 4px}p.sub{color:#52606d;margin:0 0 20px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px}.card span{color:#52606d;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin-top:16px}
th,td{border-bottom:1px solid #e4e7eb;padding:6px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td:last-child,th:last-child{font-weight:bold;border-left:2px solid #9aa5b1}
"""


def funnel_page(report: FunnelReport, texts: Texts) -> str:
    """The whole page."""
    total = report.total.view(report.columns)
    by = "vendedor" if report.by == "salesperson" else "origem"
    cards = [("leads_in", total["leads_in"]), ("meeting_booked", total["meeting_booked"])]
    cards += [(name, _speed(total[name])) for name in ("speed_to_lead_p50_seconds", "speed_to_lead_p95_seconds")]
    if "cost_per_conversation_usd" in total:
        cards.append(("cost_per_conversation_usd", _usd(total["cost_per_conversation_usd"])))
    return (
        '<!DOCTYPE html><html lang="pt-BR"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>Funil de vendas</title><style>{STYLE}</style></head><body>"
        "<h1>Funil de vendas</h1>"
        f'<p class="sub">de {_day(report.first)} a {_day(report.last)} · por {by} · fuso {escape(report.timezone)}</p>'
        '<div class="cards">'
        + "".join(
            f'<div class="card" data-card="{name}"><b>{escape(str(value))}</b><span>{LABELS[name]}</span></div>'
            for name, value in cards
        )
        + "</div>"
        + _svg(total)
        + _table(report, texts)
        + "</body></html>"
    )


def _svg(total: dict[str, Any]) -> str:
    """The funnel: one centred bar per step, as wide as its share of the leads in, with its count and share."""
    width, row, top = 640, 46, float(total["leads_in"]) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(DRAWN)}" role="img" '
        f'aria-label="Funil de vendas">'
    ]
    for index, step in enumerate(DRAWN):
        value = int(total[step])
        bar = max(width * value / top, 4.0)
        x, y = (width - bar) / 2, index * row
        share = f" · {round(100 * value / top)}%" if index else ""
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 4}" width="{bar:.1f}" height="{row - 8}" rx="4" '
            f'fill="hsl(205,70%,{38 + 9 * index}%)"/>'
            f'<text x="{width / 2}" y="{y + row / 2 + 5}" text-anchor="middle" font-size="14" fill="#102a43" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke" data-step="{step}">'
            f"{LABELS[step]}: {value}{share}</text>"
        )
    return "".join(parts) + "</svg>"


def _table(report: FunnelReport, texts: Texts) -> str:
    """One row per figure, one column per salesperson (or trigger kind) and the total."""
    names = [*report.columns, "speed_to_lead_p50_seconds", "speed_to_lead_p95_seconds"]
    if any(name.startswith("cost_") for name in report.columns):
        names.append("cost_per_conversation_usd")
    lines = [*report.lines, report.total]
    views = [line.view(report.columns) for line in lines]
    head = "".join(f"<th>{escape(line.name)}</th>" for line in lines)
    rows = "".join(
        f"<tr><td>{escape(_label(name, texts))}</td>"
        + "".join(
            f'<td data-line="{escape(line.key)}" data-counter="{name}">{escape(_shown(name, view.get(name)))}</td>'
            for line, view in zip(lines, views, strict=True)
        )
        + "</tr>"
        for name in names
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _label(name: str, texts: Texts) -> str:
    if name in LABELS:
        return LABELS[name]
    if name.startswith("first_message_skipped_"):
        return f"Não enviada: {texts.render('skip_' + name.removeprefix('first_message_skipped_'))}"
    if name.startswith("cost_") and name.endswith("_micro_usd"):
        return f"Custo {name.removeprefix('cost_').removesuffix('_micro_usd')} (US$)"
    return name


def _shown(name: str, value: Any) -> str:
    if name.startswith("speed_to_lead_"):
        return _speed(value)
    if name == "cost_per_conversation_usd":
        return _usd(value)
    if name.startswith("cost_") and name.endswith("_micro_usd"):
        return _usd(int(value) / 1e6)
    return str(value)


def _speed(seconds: int | None) -> str:
    """A bucket bound in words: ≤ 1 min, ≤ 4 h, > 24 h; '-' with no first message timed."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return "> 24 h"
    return f"≤ {seconds // 60} min" if seconds < 3600 else f"≤ {seconds // 3600} h"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"US$ {value:.4f}"


def _day(day: Any) -> str:
    return f"{day:%d/%m/%Y}"
