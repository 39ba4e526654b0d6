"""Revocation check cost per request (authorizer/identity/revocation.py): a fresh token,
whose jti and origin_jti are read in one ConsistentRead BatchGetItem (its user's sub already
cached), against a moto server on loopback (moto's own request handling dominates; network
latency to real DynamoDB is not included: an in-region call adds a few ms);
and a cached token, an in-process cache hit.

Rows are (label, median_us, p99_us). Run: ``.venv/bin/python -m bench.bench_revocation``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

from authorizer.identity.revocation import DynamoRevocationLookup, RevocationList
from authorizer.stores.dynamo_store import create_table
from bench.moto import moto_client
from bench.timing import measure

Row = tuple[str, float, float]
ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000"))
FRESH_ITERATIONS = max(50, ITERATIONS // 10)  # each one an HTTP round trip to moto
TABLE = "bench-revocations"
FRESH = "revocation check, fresh token (moto on loopback; network latency to DynamoDB not included)"
CACHED = "revocation check, cached token (in-process cache hit)"


def _claims(sub: str = "alice") -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + 3600, "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4())}  # fmt: skip


def run() -> list[Row]:
    server, client = moto_client("dynamodb")
    try:
        create_table(client, TABLE)
        client.put_item(TableName=TABLE, Item={"pk": {"S": "sub#alice"},
                                               "revoked_before": {"N": "1000"}})  # fmt: skip
        # A TTL far longer than the run: the cached row must never read the table.
        revocations = RevocationList(DynamoRevocationLookup(TABLE, client), cache_ttl=86_400)
        fresh = [_claims() for _ in range(FRESH_ITERATIONS + 10)]
        revocations.check(fresh[-1])  # the user's sub is cached, as for a returning user
        before = revocations.lookups
        row = measure(FRESH, lambda i: revocations.check(fresh[i]), FRESH_ITERATIONS, warmup=5)
        assert revocations.lookups - before == FRESH_ITERATIONS + 5, "a fresh check was cached"
        fresh_row = (row.label, row.median_us, row.p99_us)
        known = _claims()
        revocations.check(known)  # read once, then cached
    finally:
        # The server's thread slows this process while it runs; a cache hit reads nothing.
        server.stop()
    # The server is gone: the cached row would fail if it read the table.
    cached = measure(CACHED, lambda _i: revocations.check(known), ITERATIONS)
    return [fresh_row, (cached.label, cached.median_us, cached.p99_us)]


def main() -> int:
    from bench.timing import print_rows  # noqa: PLC0415

    print_rows(f"revocation check: {ITERATIONS} calls ({FRESH_ITERATIONS} fresh); us", run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
