"""The outage drill: beside a running `make run`, Kommo is down for a few minutes while a client writes;
once Kommo is back, the client must get exactly one answer.

    .venv/bin/python scripts/outage_drill.py --minutes 4

Through the Kommo sandbox's control API (local/kommo_sandbox.py) it starts the outage (every Kommo
call answers 503), has the client of a seeded lead write at once, ends the outage after `--minutes`,
then waits for the assistant's answer at most `--wait-minutes` (15: the retry schedule's longest delay,
RETRY_MAX_SECONDS in layers/common/sales_assistant/adapters/retry.py) and `--settle` seconds more for a
second one. Prints when the message was sent, when Kommo recovered, when the answer came and how many
answers the client got. Exit status 0 when exactly one.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

import requests

TEXT = "Oi! Vocês ainda estão aí? Quero saber da carta de crédito."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4, help="how long Kommo is down (default 4)")
    parser.add_argument("--wait-minutes", type=float, default=15, help="the longest wait for the answer after")
    parser.add_argument("--settle", type=float, default=60, help="seconds to watch for a second answer")
    parser.add_argument("--lead", type=int, default=27754599, help="a seeded lead whose client writes")
    parser.add_argument("--kommo", default="http://127.0.0.1:8088", help="the run's Kommo sandbox")
    args = parser.parse_args()
    kommo, outage = args.kommo.rstrip("/"), args.minutes * 60

    before = len(chat(kommo, args.lead))
    body = {"status": 503, "seconds": outage + 60, "path_prefix": "/"}  # ended by the DELETE below
    requests.post(f"{kommo}/_sandbox/faults", json=body, timeout=10).raise_for_status()
    sent = time.time()
    written = requests.post(
        f"{kommo}/_sandbox/chat", json={"lead_id": args.lead, "from": "client", "text": TEXT}, timeout=30
    ).json()
    if written.get("webhook_status") != 200:
        requests.delete(f"{kommo}/_sandbox/faults", timeout=10)
        sys.exit(f"the service did not accept the client's message: {written}")
    print(f"{clock(sent)}  Kommo down (503), the client of lead {args.lead} writes", flush=True)

    try:
        time.sleep(max(0.0, sent + outage - time.time()))
    finally:  # Ctrl+C ends the outage too
        requests.delete(f"{kommo}/_sandbox/faults", timeout=10).raise_for_status()
    recovered = time.time()
    print(f"{clock(recovered)}  Kommo back", flush=True)

    answers: list[dict[str, str]] = []
    answered, deadline = 0.0, recovered + args.wait_minutes * 60
    while time.time() < deadline:
        answers = [line for line in chat(kommo, args.lead)[before:] if line["from"] == "assistant"]
        if answers and not answered:
            answered, deadline = time.time(), time.time() + args.settle
            print(f"{clock(answered)}  answered: {answers[0]['text']!r}", flush=True)
        time.sleep(1)

    calls = [r for r in requests.get(f"{kommo}/_sandbox/requests", timeout=30).json() if r["at"] >= sent]
    print(
        f"\nsent {clock(sent)}, Kommo recovered {clock(recovered)} ({recovered - sent:.0f} s outage), "
        + (f"answered {clock(answered)} ({answered - recovered:.0f} s after recovery)" if answered else "no answer")
        + f"; answers: {len(answers)}"
        + f"\nKommo calls since: {len(calls)}, refused by the outage {sum(r['injected'] for r in calls)}, "
        + f"by Kommo's own rate limit {sum(r['status'] == 429 and not r['injected'] for r in calls)}"
    )
    sys.exit(0 if len(answers) == 1 else 1)


def chat(kommo: str, lead_id: int) -> list[dict[str, str]]:
    """The lead's chat as the client sees it (empty before anyone wrote)."""
    response = requests.get(f"{kommo}/_sandbox/leads/{lead_id}", timeout=10)
    return list(response.json()["chat"]) if response.status_code == 200 else []


def clock(unix: float) -> str:
    return datetime.fromtimestamp(unix).strftime("%H:%M:%S")


if __name__ == "__main__":
    main()
