"""The n8n contract's signatures (docs/contracts/README.md, version 2): pure HMAC helpers, shared by the
n8n client and the local n8n stand-in (nothing here loads the service's logging or metrics)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature-V2"  # on the request and on n8n's answer


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Contract v1's X-Signature, sha256=HMAC(secret, timestamp + "." + body): sent only while
    N8N_UPGRADE_FROM_V1 is on, for the workflows not upgraded yet."""
    return _hmac(secret, timestamp.encode() + b"." + body)


def sign_request(secret: str, path: str, timestamp: str, request_id: str, body: bytes) -> str:
    r"""X-Signature-V2 of a request: sha256=HMAC(secret, "POST\n" + path + "\n" + timestamp + "\n" +
    request_id + "\n" + body), `path` being the URL's path as sent (e.g. /webhook/kommo-reply)."""
    return _hmac(secret, f"POST\n{path}\n{timestamp}\n{request_id}\n".encode() + body)


def sign_answer(secret: str, request_id: str, body: bytes) -> str:
    r"""X-Signature-V2 of n8n's answer to the request `request_id`: sha256=HMAC(secret, "answer\n" +
    request_id + "\n" + body), so an answer is good for its own request only."""
    return _hmac(secret, f"answer\n{request_id}\n".encode() + body)


def signed_headers(
    secret: str, path: str, body: bytes, *, timestamp: str, request_id: str, with_v1: bool = False
) -> dict[str, str]:
    """The signature headers of one request (and v1's X-Signature with `with_v1`)."""
    headers = {
        "X-Timestamp": timestamp,
        "X-Request-Id": request_id,
        SIGNATURE_HEADER: sign_request(secret, path, timestamp, request_id, body),
    }
    if with_v1:
        headers["X-Signature"] = sign(secret, timestamp, body)
    return headers


def _hmac(secret: str, message: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
