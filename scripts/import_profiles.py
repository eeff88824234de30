"""Puts every salesperson profile of a profiles file through the service's API (PUT /vendors/{id}/profile):
the team's profiles in one command.

    API_URL=https://<api id>.execute-api.<region>.amazonaws.com API_TOKEN=<operator token> make import-profiles

API_URL defaults to the local run (`make run`); API_TOKEN is the operator token (the stack's output
ApiTokenSecretArn), read from the environment only. The file defaults to config/vendor-profiles.json
({"vendors": {"<Kommo user id>": {profile}}}). A profile set through the API is kept by every later sync:
the profiles parameter in SSM no longer applies to that salesperson. A salesperson the service does not
know yet (no sync since they joined Kommo) makes it run one POST /vendors/sync first. Each profile refused
is printed with what the service said (the field it names); the exit status is 1 then. Running it again
puts the same profiles: nothing changes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "config" / "vendor-profiles.json"
LOCAL_RUN = "http://127.0.0.1:3000"
SYNC_SECONDS = 150  # POST /vendors/sync runs within the function's 120 s

Send = Callable[[str, str, Any], tuple[int, Any]]
"""send(method, path, JSON body or None): the status and the JSON answer of one operator request."""


class ImportRefused(Exception):
    """The service cannot list the salespeople: a wrong API_URL or API_TOKEN (the message says which)."""


def import_profiles(profiles: dict[int, Any], send: Send, say: Callable[[str], None] = print) -> dict[int, str]:
    """PUT each profile, after one sync when some salesperson is not known to the service yet; what the
    service said of each profile it refused (nothing when all were stored). ImportRefused when it cannot
    even list the salespeople."""
    status, cached = send("GET", "/vendors", None)
    if status != 200:
        raise ImportRefused(f"GET /vendors answered {status}: {cached.get('message', '')}")
    if set(profiles) - {salesperson["vendor_id"] for salesperson in cached["vendors"]}:
        status, synced = send("POST", "/vendors/sync", None)  # they joined Kommo since the last sync
        if status != 200:
            say(f"POST /vendors/sync answered {status}: {synced.get('message', '')}")
    answers = {
        vendor_id: send("PUT", f"/vendors/{vendor_id}/profile", profile) for vendor_id, profile in profiles.items()
    }
    return {
        vendor_id: f"{status} {answer.get('error', '')}: {answer.get('message', '')}"
        for vendor_id, (status, answer) in answers.items()
        if status != 200
    }


def read_profiles(path: Path) -> dict[int, Any]:
    """Kommo user id -> profile, as the file has it (the service validates each one)."""
    return {int(vendor_id): profile for vendor_id, profile in json.loads(path.read_text())["vendors"].items()}


def http_sender(api_url: str, token: str) -> Send:
    """Requests to the service at `api_url` with the operator token."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def send(method: str, path: str, body: Any) -> tuple[int, Any]:
        response = session.request(method, api_url.rstrip("/") + path, json=body, timeout=SYNC_SECONDS)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"message": response.text[:200]}

    return send


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", type=Path, default=PROFILES, help="the profiles file")
    args = parser.parse_args(argv)
    token = os.environ.get("API_TOKEN", "")
    if not token:
        sys.exit("set API_TOKEN (the operator token: the stack's output ApiTokenSecretArn) in the environment")
    profiles = read_profiles(args.file)
    try:
        refused = import_profiles(profiles, http_sender(os.environ.get("API_URL") or LOCAL_RUN, token))
    except ImportRefused as error:
        sys.exit(f"nothing imported: {error}")
    for vendor_id, problem in refused.items():
        print(f"salesperson {vendor_id}: {problem}")
    print(f"{len(profiles) - len(refused)} of {len(profiles)} profiles imported")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
