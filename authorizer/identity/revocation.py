"""Token revocation: a DynamoDB table of revoked tokens, token families and users, checked for
every verified token (``Authorizer.verify``), with each answer reused for a short TTL.

Table (``REVOCATION_TABLE``; partition key ``pk``, a string; TTL attribute ``expires_at``)::

    pk                         revoked_before   what it revokes
    jti#<jti>                  -                that one token
    origin_jti#<origin_jti>    -                a Cognito refresh-token family: the access and ID
                                                tokens issued from one refresh token carry its
                                                ``origin_jti``
    sub#<sub>                  epoch seconds    every token of the user with ``iat`` < it

    expires_at (epoch seconds): DynamoDB's TTL deletes the item after it; set it to the last
    ``exp`` of the tokens it revokes (``cedar-authz revoke`` does).

An item revokes for as long as it exists: ``expires_at`` is not read (DynamoDB deletes expired
items lazily, and a token the item outlives has expired anyway). An item without a readable
``revoked_before`` revokes every token its key names (fail closed).

Freshness: a key's answer (revoked or not) is reused for ``REVOCATION_CACHE_TTL`` seconds
(default 30), so a revocation is seen within that time by a warm container, whether the token and
its decisions are cached or not; API Gateway's own authorizer cache adds its TTL on top. One
check is at most one BatchGetItem (ConsistentRead) of the keys not freshly cached. A table that
cannot be read is ``RevocationUnavailable`` (a ``DependencyError``: 500), or, with
``REVOCATION_FAIL_OPEN=true``, the request is served unchecked, logged and counted.

boto3 is imported only when ``REVOCATION_TABLE`` is set (the client of
``authorizer.stores.dynamo_store``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from authorizer.config import AWS_DEFAULTS, AwsSettings, RevocationSettings
from authorizer.errors import DependencyError, InvalidToken
from authorizer.stores.ttl_cache import TtlCache

if TYPE_CHECKING:
    from authorizer.stores.dynamo_store import DynamoClient

logger = logging.getLogger(__name__)
Clock = Callable[[], float]

KEY = "pk"
REVOKED_BEFORE = "revoked_before"
EXPIRES_AT = "expires_at"
# The keys of a token, in this order: the claim each is built from and its prefix in ``pk``.
CLAIM_PREFIXES = (("jti", "jti#"), ("origin_jti", "origin_jti#"), ("sub", "sub#"))
CACHE_SIZE = 30_000  # keys: about three per token of the token cache's 10,000
RETRIES = 3  # extra BatchGetItem calls for unprocessed keys, as the entity store does


class RevocationUnavailable(DependencyError):
    """The revocation table could not be read and no fresh cached answer stands in."""

    def __init__(self, reason: str, detail: str = "") -> None:
        text = f"revocation table {reason}" + (f": {detail}" if detail else "")
        super().__init__(text)
        self.reason = reason


class RevocationLookup(Protocol):
    """Reads revocations: each key found -> its ``revoked_before`` (``math.inf``: every token
    the key names). Keys not in the answer are not revoked. Raises ``RevocationUnavailable``."""

    def fetch(self, keys: Sequence[str]) -> dict[str, float]: ...


def token_keys(claims: Mapping[str, Any]) -> list[str]:
    """The table keys that can revoke a token: its jti, its origin_jti, its sub. A whole number
    is keyed as `revoke --jti 90210` writes it; any other value that is not a string could
    never be revoked, so the token is refused (``bad_claim``)."""
    keys: list[str] = []
    for claim, prefix in CLAIM_PREFIXES:
        value = claims.get(claim)
        if isinstance(value, str):
            if value:
                keys.append(prefix + value)
        elif isinstance(value, int) and not isinstance(value, bool):
            keys.append(f"{prefix}{value}")
        elif value is not None:
            raise InvalidToken("bad_claim", f"{claim} is neither a string nor a whole number")
    return keys


class RevocationList:
    """``check(claims)``: raise ``InvalidToken("revoked")`` for a revoked token. Each key's answer
    is cached for ``cache_ttl`` seconds of ``clock``; only the keys not freshly cached are read,
    in one ``lookup.fetch``."""

    def __init__(
        self,
        lookup: RevocationLookup,
        cache_ttl: float = 30.0,
        fail_open: bool = False,
        clock: Clock = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.lookup = lookup
        self.fail_open = fail_open
        # None: not revoked; a number: revoked_before (inf: every token the key names).
        self._cache: TtlCache[str, float | None] = TtlCache(cache_ttl, cache_size, clock)
        self.lookups = 0  # fetches made (the bench and tests read it)
        self.unchecked = 0  # requests served unchecked with REVOCATION_FAIL_OPEN

    def check(self, claims: Mapping[str, Any]) -> None:
        keys = token_keys(claims)
        marks: dict[str, float | None] = {}
        missing: list[str] = []
        for key in keys:
            cached = self._cache.get(key)
            if cached is None:
                missing.append(key)
            else:
                marks[key] = cached[0]
        # What the cache knows refuses first: a token whose user (or origin) is known revoked is
        # refused even when the table cannot be read for its other keys (fail-open would have
        # served it; fail-closed given a 500 for what is a 401).
        _refuse_if_revoked(claims, keys, marks)
        if missing:
            try:
                found = self._fetch(missing)
            except RevocationUnavailable as error:
                if not self.fail_open:
                    raise
                # Not cached: the next request tries the table again.
                self.unchecked += 1
                logger.warning("revocation check skipped (REVOCATION_FAIL_OPEN): %s", error)
                return
            for key in missing:
                marks[key] = found.get(key)
                self._cache.put(key, marks[key])
            _refuse_if_revoked(claims, keys, marks)

    def _fetch(self, keys: Sequence[str]) -> dict[str, float]:
        self.lookups += 1
        return self.lookup.fetch(keys)

    def clear(self) -> None:
        self._cache.clear()


def _refuse_if_revoked(
    claims: Mapping[str, Any], keys: Sequence[str], marks: Mapping[str, float | None]
) -> None:
    iat = claims.get("iat")
    # The verifier requires a numeric iat; without one, any revocation of the key applies.
    issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else -math.inf
    for key in keys:
        before = marks.get(key)
        if before is not None and issued < before:
            kind = key.partition("#")[0]
            raise InvalidToken("revoked", f"the token is revoked by its {kind}")


# --- DynamoDB -------------------------------------------------------------------------------


class DynamoRevocationLookup:
    """``RevocationLookup`` over the table: one BatchGetItem (ConsistentRead, so a revocation
    just written is seen) of up to three keys, reading only ``pk`` and ``revoked_before``."""

    def __init__(
        self, table: str, client: DynamoClient, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.table, self.client, self.sleep = table, client, sleep

    def fetch(self, keys: Sequence[str]) -> dict[str, float]:
        from authorizer.stores.aws_errors import failure_reason  # noqa: PLC0415

        found: dict[str, float] = {}
        request: dict[str, Any] = {
            self.table: {
                "Keys": [{KEY: {"S": key}} for key in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "#k, #b",
                "ExpressionAttributeNames": {"#k": KEY, "#b": REVOKED_BEFORE},
            }
        }
        for attempt in range(RETRIES + 1):
            try:
                response = self.client.batch_get_item(RequestItems=request)
            except Exception as error:  # botocore's failures, classified; never an Allow
                raise RevocationUnavailable(*failure_reason(error)) from error
            for item in response.get("Responses", {}).get(self.table, []):
                key = item.get(KEY, {}).get("S")
                if isinstance(key, str):
                    found[key] = item_mark(key, item)
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return found
            if attempt < RETRIES:
                self.sleep(0.025 * 2**attempt)
        raise RevocationUnavailable("throttled", "unprocessed keys after retries")


def item_mark(key: str, item: Mapping[str, Any]) -> float:
    """An item's ``revoked_before``; ``math.inf`` (every token the key names) when it has none,
    or one that is not a number (logged: the item revokes more than its writer may have meant)."""
    value = item.get(REVOKED_BEFORE)
    if value is None:
        return math.inf
    try:
        number = float(value["N"])
    except (TypeError, KeyError, ValueError):
        number = math.nan
    if math.isnan(number):
        logger.error("revocation item %s: %s is not a number; revoking every token of the key",
                     key[:80], REVOKED_BEFORE)  # fmt: skip
        return math.inf
    return number


def revocation_list(
    settings: RevocationSettings,
    aws: AwsSettings = AWS_DEFAULTS,
    clock: Clock = time.time,
    client: DynamoClient | None = None,
) -> RevocationList | None:
    """The revocation list of ``REVOCATION_TABLE``, or None when it is unset. boto3 is imported
    only when it is set (the project's client: tight timeouts, two attempts)."""
    if settings.table is None:
        return None
    if client is None:
        from authorizer.stores.dynamo_store import dynamodb_client_for  # noqa: PLC0415

        client = dynamodb_client_for(aws)
    lookup = DynamoRevocationLookup(settings.table, client)
    return RevocationList(lookup, settings.cache_ttl, settings.fail_open, clock)
