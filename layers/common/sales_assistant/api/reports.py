"""`GET /reports/funnel?from=&to=&by=salesperson|trigger` (operator token): the sales funnel of a range of the
account's days, per salesperson or per trigger kind, as JSON, CSV (`Accept: text/csv` or `format=csv`) or a
one-page pt-BR HTML report (`Accept: text/html` or `format=html`; api/funnel_page.py)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from sales_assistant import timing
from sales_assistant.api.http import OPERATOR_ONLY, bearer_route
from sales_assistant.composition import funnel_counts, salespeople
from sales_assistant.config import Settings, get_settings
from sales_assistant.errors import BadRequest
from sales_assistant.models.funnel import FunnelRow
from sales_assistant.services.funnel import SKIPPED, SPEED_BUCKETS, SPEED_OVER, STEPS, speed_percentile
from sales_assistant.texts import Texts

router = Router()
MAX_DAYS = 92  # one Query per day: a quarter at most per request
DEFAULT_DAYS = 7
GROUPINGS = ("salesperson", "trigger")
FORMATS = {"json": content_types.APPLICATION_JSON, "csv": "text/csv", "html": "text/html"}
SPEED_COUNTERS = {f"speed_to_lead_le_{bound}s" for bound in SPEED_BUCKETS} | {SPEED_OVER}
COST_SUFFIX = "_micro_usd"  # cost counters are whole micro-dollars


@dataclass
class Line:
    """One line of the report: a salesperson or a trigger kind (or the total), its counters summed over the range."""

    key: str
    name: str
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            self.counters[name] = self.counters.get(name, 0) + value

    def cost_micro_usd(self) -> int:
        return sum(value for name, value in self.counters.items() if name.startswith("cost_"))

    def conversations(self) -> int:
        """What the cost is shared by: the `conversations` the costs count, else the leads in."""
        return self.counters.get("conversations") or self.counters.get("leads_in", 0)

    def view(self, columns: list[str]) -> dict[str, Any]:
        """The line as JSON: every column (0 when not counted), the speed to lead's p50/p95 (seconds, -1 past the
        last bucket, None when no first message was timed) and the cost per conversation when costs were counted."""
        view: dict[str, Any] = {"key": self.key, "name": self.name}
        view |= {name: self.counters.get(name, 0) for name in columns}
        view["speed_to_lead_p50_seconds"] = speed_percentile(self.counters, 0.5)
        view["speed_to_lead_p95_seconds"] = speed_percentile(self.counters, 0.95)
        if any(name.startswith("cost_") for name in columns):
            shared = self.conversations()
            view["cost_per_conversation_usd"] = round(self.cost_micro_usd() / shared / 1e6, 6) if shared else None
        return view


@dataclass
class FunnelReport:
    first: date
    last: date
    by: str
    timezone: str
    columns: list[str]
    lines: list[Line]
    total: Line

    def view(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "by": self.by,
            "timezone": self.timezone,
            "columns": self.columns,
            "lines": [line.view(self.columns) for line in self.lines],
            "total": self.total.view(self.columns),
        }

    def csv(self) -> str:
        views = [line.view(self.columns) for line in [*self.lines, self.total]]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(views[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(views)
        return out.getvalue()


@router.get(
    "/reports/funnel",
    summary="The sales funnel per salesperson or trigger kind, over a range of days",
    description="from, to: the account's days (YYYY-MM-DD, ACCOUNT_TIMEZONE; default the last 7 days), at most "
    f"{MAX_DAYS} days; by: salesperson (default) or trigger. JSON by default; CSV with `Accept: text/csv` or "
    "format=csv; a one-page pt-BR HTML report with `Accept: text/html` or format=html. Each line: the funnel's "
    "counters (leads_in, first_message_sent, ..., opted_out; first_message_skipped_<reason>; cost_* in micro-dollars "
    "when counted), speed to lead p50/p95 in seconds (the upper bound of its bucket; -1: over a day) and the cost "
    "per conversation.",
    **bearer_route("reports", 400, scopes=OPERATOR_ONLY),
)
def get_funnel_report(
    first_day: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    last_day: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    by: Annotated[str, Query(max_length=40)] = "salesperson",
    format: Annotated[str | None, Query(max_length=40)] = None,  # noqa: A002 - the query parameter's name
) -> Response[Any]:
    """400 (with the reason) for a bad date, from after to, a range over the limit, an unknown `by` or format."""
    settings = get_settings()
    first, last = _range(first_day, last_day, settings.account_timezone)
    if by not in GROUPINGS:
        raise BadRequest(f"by: salesperson or trigger, not {by[:40]!r}", code="unknown_grouping")
    wanted = _format(format, router.current_event.headers.get("accept") or "")
    report = funnel_report(settings, first, last, by)
    if wanted == "csv":
        return Response(200, FORMATS["csv"] + "; charset=utf-8", report.csv())
    if wanted == "html":
        from sales_assistant.api.funnel_page import funnel_page

        return Response(200, FORMATS["html"] + "; charset=utf-8", funnel_page(report, settings.texts))
    return Response(200, FORMATS["json"], report.view())


def funnel_report(settings: Settings, first: date, last: date, by: str) -> FunnelReport:
    """The day rows of the range (one Query per day), with the salespeople's names from the cache."""
    names = {person.vendor_id: person.name for person in salespeople(settings).all()} if by == "salesperson" else {}
    rows = funnel_counts(settings).days(first, last)
    return build_report(rows, first, last, by, names, settings.texts, settings.account_timezone)


def build_report(
    rows: list[FunnelRow], first: date, last: date, by: str, names: dict[int, str], texts: Texts, timezone: str
) -> FunnelReport:
    """The day rows summed per salesperson (named from `names`) or per trigger kind, and in total."""
    lines: dict[str, Line] = {}
    total = Line("total", "Total")
    for row in rows:
        key = str(row.salesperson_id if by == "salesperson" else row.trigger)
        line = lines.setdefault(key, Line(key, _name(row, by, names, texts)))
        line.add(row.counters)
        total.add(row.counters)
    return FunnelReport(first, last, by, timezone, _columns(rows), sorted(lines.values(), key=_order), total)


def _columns(rows: list[FunnelRow]) -> list[str]:
    """The funnel's steps in order, then the skipped reasons and the other counters (costs...) seen in the range."""
    seen = {name for row in rows for name in row.counters}
    others = sorted(seen - set(STEPS) - SPEED_COUNTERS)
    skipped = [name for name in others if name.startswith(SKIPPED)]
    return [*STEPS, *skipped, *(name for name in others if name not in skipped)]


def _name(row: FunnelRow, by: str, names: dict[int, str], texts: Texts) -> str:
    if by == "trigger":
        return texts.render(f"trigger_{row.trigger}") if row.trigger != "inbound" else "cliente escreveu primeiro"
    if not row.salesperson_id:
        return "sem vendedor"
    return names.get(row.salesperson_id) or f"vendedor {row.salesperson_id}"


def _order(line: Line) -> tuple[int, str]:
    return (-line.counters.get("leads_in", 0), line.name)


def _range(given_from: str | None, given_to: str | None, timezone: str) -> tuple[date, date]:
    today = datetime.fromtimestamp(timing.now(), ZoneInfo(timezone)).date()
    last = _day("to", given_to) if given_to else today
    first = _day("from", given_from) if given_from else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadRequest(f"from ({first}) is after to ({last})", code="from_after_to")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"at most {MAX_DAYS} days per report; ask for shorter ranges", code="range_too_long")
    return first, last


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: a day as YYYY-MM-DD, not {value[:40]!r}", code="bad_date") from None


def _format(given: str | None, accept: str) -> str:
    """format= wins over the Accept header; JSON when neither asks for CSV or HTML."""
    if given:
        if given not in FORMATS:
            raise BadRequest(f"format: json, csv or html, not {given[:40]!r}", code="unknown_format")
        return given
    for kind in ("text/csv", "text/html"):
        if kind in accept.lower():
            return kind.split("/")[1]
    return "json"
