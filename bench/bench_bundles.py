"""What live policy bundles cost: a refresh check that is not due (a clock comparison), one that
is due and finds nothing new (a conditional GET answered 304, on a moto S3 server on loopback and
on a file), a swap to a new version (fetch, parse, validate, a new pipeline: the sample app, 11
policies), and a repeated request through a bundle against the same through the packaged folder
(measured in turns: target ratio <= 1.1).

Rows are (label, median_us, p99_us). Run: ``.venv/bin/python -m bench.bench_bundles``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from authorizer.cedar.bundle import make_bundle
from authorizer.cedar.bundle_source import FileSource, LiveBundle, S3Source
from authorizer.config import Settings
from authorizer.live import LiveAuthorizer
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample import ROOT, sample_environment
from bench.moto import moto_client
from bench.timing import Row, measure, measure_together

ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000"))
SWAPS = 30
FOLDER_HIT = "handler: repeated request, packaged folder"
BUNDLE_HIT = "handler: repeated request, through a policy bundle (check not due)"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


def sample_bundle() -> dict[str, Any]:
    from authorizer.cedar.schema import load_schema  # noqa: PLC0415

    policies = {p.name: p.read_text() for p in sorted((ROOT / "policies").glob("*.cedar"))}
    schema = load_schema(ROOT / "schemas" / "corp.cedarschema").json
    entities = json.loads((ROOT / "entities" / "corp.json").read_text())
    return make_bundle(policies, schema, None, entities)


def run() -> list[tuple[str, float, float]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("authorizer").setLevel(logging.ERROR)
    bundle = sample_bundle()
    body = json.dumps(bundle).encode()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bundle.json"
        path.write_bytes(body)
        clock = _Clock()
        live = LiveBundle(FileSource(path), 30, clock)
        live.engine()
        rows.append(measure("bundle check, not due (a clock comparison)",
                            lambda _i: live.engine(), ITERATIONS))  # fmt: skip

        def due_file(_i: int) -> None:
            clock.now += 30
            live.engine()

        rows.append(measure("bundle check, due, file unchanged", due_file, ITERATIONS))
        rows.append(_s3_not_modified(body))
        versions = [_version(bundle, n) for n in range(SWAPS + 5)]

        def swap(i: int) -> None:
            path.write_bytes(versions[i])
            clock.now += 30
            live.engine()

        rows.append(measure("bundle swap: read, parse, validate a new version (11+1 policies)",
                            swap, SWAPS, warmup=5))  # fmt: skip
        rows += _repeated_requests(body, Path(folder))
    return [(r.label, r.median_us, r.p99_us) for r in rows]


def _version(bundle: dict[str, Any], n: int) -> bytes:
    """The sample bundle with one more policy: a new version to swap to."""
    extra = f'@id("v{n}") forbid (principal, action, resource) when {{ false }};'
    policies = {**bundle["policies"], "extra.cedar": extra}
    return json.dumps(make_bundle(policies, bundle["schema"], None, bundle["entities"])).encode()


def _s3_not_modified(body: bytes) -> Row:
    server, client = moto_client("s3")
    try:
        client.create_bucket(Bucket="bundles")
        client.put_object(Bucket="bundles", Key="b.json", Body=body)
        clock = _Clock()
        live = LiveBundle(S3Source("bundles", "b.json", client), 30, clock)
        live.engine()

        def due(_i: int) -> None:
            clock.now += 30
            live.engine()

        return measure("bundle check, due, S3 304 (moto on loopback; not AWS's latency)", due,
                       ITERATIONS // 10, warmup=10)  # fmt: skip
    finally:
        server.stop()


def _repeated_requests(body: bytes, folder: Path) -> list[Row]:
    issuer = LocalIssuer()
    jwks = json.dumps(issuer.jwks()).encode()
    env = sample_environment(issuer, "http://127.0.0.1/.well-known/jwks.json")
    quiet = Telemetry(stream=open(os.devnull, "w"))  # noqa: SIM115  # the bench's lifetime
    plain = Authorizer.from_env(env, fetch=lambda _u: jwks)
    plain.telemetry = quiet
    (folder / "sample.json").write_bytes(body)
    bundled = LiveAuthorizer(
        Settings.from_env({**env, "CEDAR_POLICY_BUNDLE": str(folder / "sample.json")}),
        fetch=lambda _u: jwks, telemetry=quiet,
    )  # fmt: skip
    token = issuer.token("alice", groups=["engineering"],
                         extra={"tenant": "acme", "permissions": ["employee:read"]})  # fmt: skip
    event = apigw.rest_request_event("GET", "/employees/emp-001", "/employees/{employeeId}",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    return measure_together({FOLDER_HIT: lambda _i: plain.handle(event),
                             BUNDLE_HIT: lambda _i: bundled.handle(event)}, ITERATIONS)  # fmt: skip


def main() -> int:
    from bench.timing import print_rows  # noqa: PLC0415

    rows = run()
    print_rows(f"policy bundles: {ITERATIONS} calls per row ({SWAPS} swaps); us", rows)
    by = {label: median for label, median, _ in rows}
    ratio = by[BUNDLE_HIT] / by[FOLDER_HIT]
    print(f"repeated request through a bundle / packaged folder: {ratio:.2f}x "
          f"(target <= 1.1: {'met' if ratio <= 1.1 else 'missed'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
