"""Entity store cost per decision: the JSON file (today's fast path) against DynamoDB with the
entity cache warm, and a cache miss against a moto server on loopback (moto, not AWS: moto's
own request handling dominates; an in-region BatchGetItem takes a few ms per round instead).

Rows are (label, median_us, p99_us). Run: ``.venv/bin/python -m bench.bench_store``.
Every row decides the salary of emp-001 for paula (nested groups, a referenced group): the
decision cache is off (DECISION_CACHE_TTL=0), so each call evaluates.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from authorizer.cedar.engine import Engine
from authorizer.config import Settings, StoreSettings
from authorizer.pdp import Authorizer
from authorizer.stores.dynamo_store import create_table, dynamodb_store, write_entities
from authorizer.stores.store import CachingStore
from authorizer.telemetry import Telemetry
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample import ROOT, sample_environment
from authorizer.tooling.local.users import split_profile
from bench.authorizer_bench import _Discard, event, new_issuer
from bench.moto import moto_client
from bench.timing import measure

Row = tuple[str, float, float]
ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000"))
MISS_ITERATIONS = max(50, ITERATIONS // 10)
TABLE = "bench-entities"
SALARY = ("GET", "/employees/emp-001/salary", "/employees/{employeeId}/salary")


def _authorizer(issuer: LocalIssuer, store: CachingStore | None) -> Authorizer:
    jwks = json.dumps(issuer.jwks()).encode()
    env = {**sample_environment(issuer, "http://127.0.0.1/.well-known/jwks.json"),
           "DECISION_CACHE_TTL": "0"}  # fmt: skip
    settings = Settings.from_env(env)
    engine = Engine.load(
        settings.policy_dir, settings.schema_path, settings.entities_path, None, store=store
    )
    authorizer = Authorizer(settings, engine, fetch=lambda _url: jwks)
    authorizer.telemetry = Telemetry(stream=_Discard())  # type: ignore[arg-type]
    return authorizer


def _tokens(issuer: LocalIssuer, count: int, distinct: bool) -> list[str]:
    groups, claims = split_profile("paula")
    subs = [f"paula-{n}" if distinct else "paula" for n in range(count)]
    return [issuer.token(sub, groups=groups, extra=claims) for sub in subs]


def _allowed(authorizer: Authorizer, request: dict[str, Any]) -> bool:
    from authorizer.gateway.response import policy_allows  # noqa: PLC0415

    return policy_allows(authorizer.handle(request), request["methodArn"])


def _rows(prefix: str, authorizer: Authorizer, issuer: LocalIssuer) -> list[Row]:
    known = event(_tokens(issuer, 1, False)[0], *SALARY)
    fresh = [event(t, *SALARY) for t in _tokens(issuer, ITERATIONS + 100, True)]
    assert _allowed(authorizer, known)

    def call(events: list[dict[str, Any]]) -> Callable[[int], object]:
        return lambda i: authorizer.handle(events[i])

    gc.collect()
    rows = [
        measure(f"{prefix}: known token, every call decided", lambda _i: authorizer.handle(known),
                ITERATIONS),
        measure(f"{prefix}: fresh token, new user", call(fresh), ITERATIONS),
    ]  # fmt: skip
    return [(r.label, r.median_us, r.p99_us) for r in rows]


def run() -> list[Row]:
    issuer = new_issuer()
    rows = _rows("JSON file store", _authorizer(issuer, None), issuer)
    server, client = moto_client("dynamodb")
    try:
        create_table(client, TABLE)
        entities = json.loads((ROOT / "entities" / "corp.json").read_text())
        write_entities(client, TABLE, entities)
        # A TTL far longer than the run: the warm rows below must never miss.
        store = dynamodb_store(StoreSettings(table=TABLE, cache_ttl=86_400), client=client)
        dynamo = _authorizer(issuer, store)
        known = event(_tokens(issuer, 1, False)[0], *SALARY)

        def miss(_i: int) -> None:
            store.clear()  # every entity read again: one BatchGetItem per round
            dynamo.handle(known)

        before = store.reads
        row = measure("DynamoDB store, entity cache miss (moto server on loopback, not AWS)",
                      miss, MISS_ITERATIONS, warmup=5)  # fmt: skip
        rounds = (store.reads - before) / (MISS_ITERATIONS + 5)
        miss_row = (f"{row.label}, {rounds:.0f} rounds", row.median_us, row.p99_us)
    finally:
        # The server's thread slows this process by ~15 us a call while it runs; an authorizer
        # has no such thread, so the warm rows are measured without it (and read nothing).
        server.stop()
    reads = store.reads
    rows += _rows("DynamoDB store, entity cache warm", dynamo, issuer)
    assert store.reads == reads, "a warm row read DynamoDB"
    return [*rows, miss_row]


def main() -> int:
    from bench.timing import print_rows  # noqa: PLC0415

    print_rows(
        f"entity store: {ITERATIONS} calls per row ({MISS_ITERATIONS} for the miss); us", run()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
