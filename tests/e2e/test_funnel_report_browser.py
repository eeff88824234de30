"""The funnel report's HTML page from the local run (`make run`'s code), opened in headless Chromium after the
demo's five scenarios: the numbers in its DOM are the report's, and the page logs no console message (no
error, no resource refused by its Content-Security-Policy). WRITE_REPORT_SCREENSHOT=1 writes its screenshot
to docs/img/funnel-report.png (docs/reports.md shows it).

Chromium comes from `make browser` (scripts/browser_install.sh, Debian's package); the test installs nothing.
It fails when Chromium is missing on a machine with apt-get, and skips only where there is no apt-get."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_run import (
    OPERATOR,
    ROOT,
    free_port,
    get,
    local_run_command,
    start,
    stop_with_sigterm,
    wait_for,
)

SCREENSHOT = ROOT / "docs" / "img" / "funnel-report.png"
ANA, BRUNO, DIEGO = 8401234, 8401235, 8401237
MORE_LEADS = [  # leads arriving after the demo's: name, phone, area, responsible, whether the client answers
    ("Fernanda Alves", "+55 11 90000-0001", "Auto", ANA, True),
    ("Gustavo Nunes", "+55 11 90000-0002", "Auto", DIEGO, True),
    ("Helena Prado", "+55 11 90000-0003", "Auto", DIEGO, False),
    ("Igor Teles", "+55 21 90000-0004", "Imóveis", BRUNO, True),
    ("Joana Reis", "+55 31 90000-0005", "Auto", ANA, False),
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get"):
        pytest.fail("Chromium is not installed: `make browser` installs it (scripts/browser_install.sh)")
    pytest.skip("no apt-get on this machine: install Chromium by hand to run the browser test")


def headless(page: Path, profile: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Chromium, headless and quiet (no network of its own, no first-run work), on `page`; its console messages
    logged to stderr."""
    command = [
        chromium(),
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"),
        *("--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"),
        *("--enable-logging=stderr", "--log-level=0"),
        *options,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True, stdin=subprocess.DEVNULL)  # noqa: S603


def post(url: str, body: dict[str, Any]) -> Any:
    data, headers = json.dumps(body).encode(), {"content-type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 - the local run
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def served_page(port: int, folder: Path) -> Path:
    """The HTML report the local run serves, saved to a file: Chromium cannot send the bearer token itself."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/reports/funnel?format=html", headers=OPERATOR)
    with urllib.request.urlopen(request, timeout=10) as page:  # noqa: S310 - the local run
        saved = folder / "funil.html"
        saved.write_text(page.read().decode())
    return saved


class Cells(HTMLParser):
    """The figures of the page's total line, by counter: what a reader sees in the table."""

    def __init__(self) -> None:
        super().__init__()
        self.total: dict[str, str] = {}
        self._counter: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self._counter = found.get("data-counter") if tag == "td" and found.get("data-line") == "total" else None

    def handle_data(self, data: str) -> None:
        if self._counter:
            self.total[self._counter] = data
            self._counter = None


@pytest.fixture(scope="module")
def local_run() -> Iterator[dict[str, int]]:
    """The local run, after the demo's five scenarios (first messages, replies, a follow-up, a handover...)."""
    from local.demo import run_demo

    chromium()  # fail or skip before starting anything
    ports = {name: free_port() for name in ("api", "aws", "kommo", "n8n")}
    process = start(local_run_command(ports))
    try:
        api = f"http://127.0.0.1:{ports['api']}"
        wait_for(lambda: get(f"{api}/health")["status"] == "ok", 60)
        printed: list[str] = []
        sandbox = f"http://127.0.0.1:{ports['kommo']}"
        assert run_demo(api, sandbox, say=printed.append) == [], "\n".join(printed)
        more_leads(api, sandbox)
        yield ports
    finally:
        assert stop_with_sigterm(process) == "stopped"


def more_leads(api: str, sandbox: str) -> None:
    """MORE_LEADS arrive in Kommo, each gets its first message, and some clients answer."""

    def total() -> dict[str, int]:
        return dict(get(f"{api}/reports/funnel", OPERATOR)["total"])

    arrived = [
        post(f"{sandbox}/_sandbox/leads", {"name": name, "phone": phone, "area": area, "responsible_user_id": owner})
        for name, phone, area, owner, _ in MORE_LEADS
    ]
    wait_for(lambda: total()["leads_in"] == 1 + len(MORE_LEADS), 60)
    answering = [lead for lead, (*_, answers) in zip(arrived, MORE_LEADS, strict=True) if answers]
    for lead in answering:
        post(f"{sandbox}/_sandbox/chat", {"lead_id": lead["lead_id"], "from": "client", "text": "Oi, tenho interesse!"})
    wait_for(lambda: total()["replied"] == 1 + len(answering), 60)

    def answered(lead: dict[str, int]) -> bool:  # the first message and the reply: nothing more is on its way
        chat = get(f"{sandbox}/_sandbox/leads/{lead['lead_id']}")["chat"]
        return [line["from"] for line in chat].count("assistant") == 2

    wait_for(lambda: all(answered(lead) for lead in answering), 60)


def test_the_html_report_opens_in_chromium_with_the_reports_numbers_and_no_console_message(
    local_run: dict[str, int], tmp_path: Path
) -> None:
    report: dict[str, Any] = get(f"http://127.0.0.1:{local_run['api']}/reports/funnel", OPERATOR)

    opened = headless(served_page(local_run["api"], tmp_path), tmp_path / "profile", "--dump-dom")
    cells = Cells()
    cells.feed(opened.stdout)

    assert report["total"]["leads_in"] > 0 and report["total"]["first_message_sent"] > 0
    assert {name: cells.total.get(name) for name in report["columns"] if not name.startswith("cost_")} == {
        name: str(report["total"][name]) for name in report["columns"] if not name.startswith("cost_")
    }
    assert f"Leads recebidos: {report['total']['leads_in']}" in opened.stdout
    assert [line for line in opened.stderr.splitlines() if ":CONSOLE" in line] == []


def test_the_html_report_has_a_screenshot(local_run: dict[str, int], tmp_path: Path) -> None:
    target = SCREENSHOT if os.environ.get("WRITE_REPORT_SCREENSHOT") == "1" else tmp_path / "funil.png"

    page = served_page(local_run["api"], tmp_path)
    headless(page, tmp_path / "profile", f"--screenshot={target}", "--window-size=1100,1400", "--hide-scrollbars")

    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
