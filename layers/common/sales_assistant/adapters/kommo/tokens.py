"""Kommo access tokens: a long-lived token, or an OAuth2 pair rotated safely across Lambdas.

A refresh token is single-use: two workers refreshing at once would break the integration. So the
pair lives in DynamoDB; one worker refreshes under a lock (a conditional write with a lease),
stores the new pair before using it, and the others wait for the new version and reuse it.

A refresh happens ahead of time: the 15-minute schedule refreshes a pair with less than
`REFRESH_AHEAD_SECONDS` left (`refresh_ahead`), so workers seldom need to. While the stored access
token is still valid, nothing about a refresh fails a call: a busy lock, a failing token endpoint
or an invocation about to end all mean "use the stored token". A refresh is never started with less
than `MIN_SECONDS_TO_REFRESH` left in the invocation: a Lambda timeout between Kommo's answer and
the save would lose the new single-use refresh token and force a person to re-authorise.

The pair is stored encrypted with a KMS key (KOMMO_TOKEN_KEY_ID) whose key policy lets only the roles
of the functions that call Kommo decrypt it: the Kommo table's readers, its PITR backups and exports
hold ciphertext only. Each token is encrypted directly (kms:Encrypt, well under KMS's 4 KB limit), bound
to its purpose by an encryption context; a process decrypts a given ciphertext once and keeps the result
(one Decrypt call per process and token version). A pair stored in plain text by an older version is
sealed by the first worker that reads it (same version, no refresh).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal

from sales_assistant import timing
from sales_assistant.adapters.aws import applied, dynamodb_table, is_condition_failure, kms_client
from sales_assistant.adapters.kommo.errors import KommoReauthorizationRequired, KommoUnavailable
from sales_assistant.config import SettingsError
from sales_assistant.invocation import remaining_seconds
from sales_assistant.models.kommo import TokenPair
from sales_assistant.observability import count, logger

TOKEN_KEY = "kommo#token"  # noqa: S105 - a table key, not a secret
LOCK_KEY = "kommo#token-lock"
REFRESH_AHEAD_SECONDS = 6 * 3600  # the schedule's margin: 24 such chances before a 24-h token expires
STILL_VALID_SECONDS = 60  # a stored token with this much life left still serves a call and its retries
MIN_SECONDS_TO_REFRESH = 20  # the token endpoint's timeouts (3 + 10 s) and the save, with room to spare
RETRY_REFRESH_SECONDS = 60  # after a failed refresh, a process uses the valid stored token this long


class TokenSource(ABC):
    """What the client asks for: a token to use, and a new one after a 401 with `rejected` (the two ways
    an integration holds its token, below, are the only kinds: an adapter's own base, not a port)."""

    @abstractmethod
    def access_token(self) -> str: ...

    @abstractmethod
    def after_unauthorized(self, rejected: str) -> str: ...

    @abstractmethod
    def refresh_ahead(self) -> bool: ...


class LongLivedToken(TokenSource):
    """Private integrations: one token, no refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def after_unauthorized(self, rejected: str) -> str:
        count("KommoReauthorizationRequired")
        raise KommoReauthorizationRequired(
            "Kommo refused the long-lived token: issue a new one (KOMMO_LONG_LIVED_TOKEN)"
        )

    def refresh_ahead(self) -> bool:
        """Nothing to refresh: a long-lived token lives until it is replaced."""
        return False


class StoredPair:
    """A token pair and its version number in the store."""

    def __init__(self, pair: TokenPair, version: int) -> None:
        self.pair = pair
        self.version = version


Token = Literal["access", "refresh"]


class DynamoTokenStore:
    """The token pair (encrypted with the KMS key `key_id`) and the refresh lock, in the Kommo table."""

    def __init__(self, table_name: str, key_id: str, clock: Callable[[], float] = timing.now) -> None:
        if not key_id:
            raise SettingsError("KOMMO_TOKEN_KEY_ID is required in OAuth2 mode: the token pair is stored encrypted")
        self._table_name = table_name
        self._key_id = key_id
        self._clock = clock

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def load(self) -> StoredPair | None:
        item = self._table.get_item(Key={"pk": TOKEN_KEY}, ConsistentRead=True).get("Item")
        if not item:
            return None
        version = int(item["version"])
        if "access_token" in item:  # stored in plain text by an older version: sealed now, once
            pair = TokenPair(
                access_token=item["access_token"],
                refresh_token=item["refresh_token"],
                expires_at=int(item["expires_at_unix"]),
            )
            self._seal_plain(pair, version)
            return StoredPair(pair, version)
        pair = TokenPair(
            access_token=_decrypted(self._key_id, "access", bytes(item["sealed_access_token"])),
            refresh_token=_decrypted(self._key_id, "refresh", bytes(item["sealed_refresh_token"])),
            expires_at=int(item["expires_at_unix"]),
        )
        return StoredPair(pair, version)

    def save(self, pair: TokenPair, version: int) -> None:
        self._table.put_item(Item=self._item(pair, version))

    def save_next(self, pair: TokenPair) -> int:
        """Store a newly authorised pair as the next version; returns it. Reads only the version number,
        so an operator allowed to encrypt with the key, but not to decrypt, can run it."""
        item = self._table.get_item(Key={"pk": TOKEN_KEY}, ConsistentRead=True, ProjectionExpression="version")
        version = int(item["Item"]["version"]) + 1 if "Item" in item else 1
        self.save(pair, version)
        return version

    def _seal_plain(self, pair: TokenPair, version: int) -> None:
        """Replace a plain-text pair by the same pair encrypted, unless another worker did (or refreshed)."""
        try:
            self._table.put_item(
                Item=self._item(pair, version),
                ConditionExpression="version = :version AND attribute_exists(access_token)",
                ExpressionAttributeValues={":version": version},
            )
        except Exception as error:
            if is_condition_failure(error):
                return
            raise
        logger.info("kommo token pair stored in plain text by an older version: now encrypted")

    def _item(self, pair: TokenPair, version: int) -> dict[str, Any]:
        return {
            "pk": TOKEN_KEY,
            "sealed_access_token": self._encrypted("access", pair.access_token),
            "sealed_refresh_token": self._encrypted("refresh", pair.refresh_token),
            "expires_at_unix": pair.expires_at,
            "version": version,
            "updated_at": int(self._clock()),
        }

    def _encrypted(self, token: Token, value: str) -> bytes:
        answer = kms_client().encrypt(KeyId=self._key_id, Plaintext=value.encode(), EncryptionContext=_context(token))
        return bytes(answer["CiphertextBlob"])

    def try_lock(self, owner: str, lease_seconds: float) -> bool:
        now = self._clock()
        return applied(
            lambda: self._table.put_item(
                Item={
                    "pk": LOCK_KEY,
                    "owner": owner,
                    "lease_until_ms": int((now + lease_seconds) * 1000),
                    "expires_at": int(now) + 3600,
                },
                ConditionExpression="attribute_not_exists(pk) OR lease_until_ms < :now",
                ExpressionAttributeValues={":now": int(now * 1000)},
            )
        )

    def unlock(self, owner: str) -> None:
        try:
            self._table.delete_item(
                Key={"pk": LOCK_KEY},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise


def _context(token: Token) -> dict[str, str]:
    """The KMS encryption context of a token: a ciphertext decrypts only as what it was stored as (the key
    policy also requires it)."""
    return {"purpose": "kommo-oauth", "token": token}


@lru_cache(maxsize=16)
def _decrypted(key_id: str, token: Token, sealed: bytes) -> str:
    """A stored token in clear, decrypted once per process (the ciphertext changes with every new pair)."""
    answer = kms_client().decrypt(KeyId=key_id, CiphertextBlob=sealed, EncryptionContext=_context(token))
    return bytes(answer["Plaintext"]).decode()


class OAuthTokens(TokenSource):
    """OAuth2 tokens from the store, refreshed before expiry and once after a 401, one refresher at a time."""

    def __init__(
        self,
        store: DynamoTokenStore,
        refresh: Callable[[str], TokenPair],
        *,
        clock: Callable[[], float] = timing.now,
        sleep: Callable[[float], None] = timing.sleep,
        refresh_margin_seconds: int = 600,
        lock_lease_seconds: float = 30.0,
        wait_seconds: float = 20.0,
    ) -> None:
        self._store = store
        self._refresh = refresh
        self._clock = clock
        self._sleep = sleep
        self._margin = refresh_margin_seconds
        self._lease = lock_lease_seconds
        self._wait = wait_seconds
        self._retry_refresh_at = 0.0

    def access_token(self) -> str:
        stored = self._load()
        left = stored.pair.expires_at - self._clock()
        if left > self._margin:
            return stored.pair.access_token
        if left > STILL_VALID_SECONDS and self._clock() < self._retry_refresh_at:
            return stored.pair.access_token  # a refresh failed here moments ago: not on every call
        return self._refreshed(stored, usable=left > STILL_VALID_SECONDS).pair.access_token

    def after_unauthorized(self, rejected: str) -> str:
        stored = self._load()
        if stored.pair.access_token != rejected:
            return stored.pair.access_token  # another worker already refreshed
        return self._refreshed(stored, usable=False).pair.access_token

    def refresh_ahead(self) -> bool:
        """Refresh now if the stored access token has less than REFRESH_AHEAD_SECONDS left (the schedule
        calls this); True when this call stored a new pair."""
        stored = self._load()
        left = stored.pair.expires_at - self._clock()
        if left >= REFRESH_AHEAD_SECONDS:
            return False
        return self._refreshed(stored, usable=left > STILL_VALID_SECONDS).version != stored.version

    def _load(self) -> StoredPair:
        stored = self._store.load()
        if stored is None:
            count("KommoReauthorizationRequired")
            raise KommoReauthorizationRequired(
                "no Kommo token stored: authorise the integration (scripts/kommo_authorize.py)"
            )
        return stored

    def _refreshed(self, seen: StoredPair, *, usable: bool) -> StoredPair:
        """A newer pair than `seen`, refreshed here or by another worker; or, while `seen`'s access token
        is still `usable`, `seen` itself when no refresh can happen now."""
        owner = uuid.uuid4().hex
        deadline = self._clock() + self._wait
        while True:
            if self._store.try_lock(owner, self._lease):
                try:
                    return self._refresh_locked(seen, usable)
                finally:
                    self._store.unlock(owner)
            if usable:
                return seen  # another worker is refreshing; the stored token still works meanwhile
            if self._clock() >= deadline:
                raise KommoUnavailable("timed out waiting for another worker to refresh the Kommo token")
            self._sleep(0.2)
            current = self._load()
            if current.version != seen.version:
                return current

    def _refresh_locked(self, seen: StoredPair, usable: bool) -> StoredPair:
        current = self._load()
        if current.version != seen.version:
            return current  # refreshed while we were taking the lock
        remaining = remaining_seconds()
        if remaining is not None and remaining < MIN_SECONDS_TO_REFRESH:
            if usable:
                return current
            raise KommoUnavailable(
                f"only {remaining:.0f} s left in this invocation: Kommo token refresh left to a retry"
            )
        try:
            pair = self._refresh(current.pair.refresh_token)
        except KommoUnavailable:
            if not usable:
                raise
            self._retry_refresh_at = self._clock() + RETRY_REFRESH_SECONDS
            count("KommoTokenRefreshFailures")
            logger.warning("kommo token refresh failed: using the stored token meanwhile")
            return current
        self._store.save(pair, current.version + 1)  # stored before anyone uses it
        count("KommoTokenRefreshes")
        logger.info("kommo token refreshed", extra={"version": current.version + 1})
        return StoredPair(pair, current.version + 1)
