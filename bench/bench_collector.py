"""The cyclic garbage collector on a fresh-token stream: Python's default settings against the
Lambda entry point's (``handler.quiet_collector``), each in a fresh interpreter answering the same
new users' tokens on a record route (the caches fill as in production). The medians hardly move
(a collection runs every ~18 requests); the tail does: a full collection walks every cached
caller. Run alone: ``python -m bench.bench_collector``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
USERS = 10_000


class Tail(NamedTuple):
    """Microseconds per request, after the first 100 (which warm the process)."""

    mean: float
    median: float
    p999: float
    longest: float


def _measure(inputs: Path, quiet: bool) -> Tail:
    """In this (fresh) interpreter: the key set and tokens ``run`` wrote."""
    import time  # noqa: PLC0415

    from authorizer import handler  # noqa: PLC0415
    from authorizer.pdp import Authorizer  # noqa: PLC0415
    from authorizer.telemetry import Telemetry  # noqa: PLC0415
    from authorizer.tooling.local.sample import sample_environment  # noqa: PLC0415
    from bench.authorizer_bench import RECORD, _Discard, event, new_issuer  # noqa: PLC0415

    jwks, tokens = json.loads(inputs.read_text())
    body = json.dumps(jwks).encode()
    # The issuer's name and client id (its own key is not the one that signed: the file's is).
    env = sample_environment(new_issuer(), "http://127.0.0.1/.well-known/jwks.json")
    authorizer = Authorizer.from_env(env, fetch=lambda _url: body)
    authorizer.telemetry = Telemetry(stream=_Discard())  # type: ignore[arg-type]
    events = [event(token, *RECORD) for token in tokens]
    for item in events[:100]:
        authorizer.handle(item)
    if quiet:
        handler.quiet_collector()
    times = []
    clock = time.perf_counter
    for item in events[100:]:
        started = clock()
        authorizer.handle(item)
        times.append((clock() - started) * 1e6)
    times.sort()
    return Tail(sum(times) / len(times), times[len(times) // 2],
                times[int(len(times) * 0.999)], times[-1])  # fmt: skip


def run() -> list[tuple[str, Tail]]:
    """Both arms, each in a fresh interpreter, on the same signed tokens."""
    from bench.authorizer_bench import alice_tokens, new_issuer  # noqa: PLC0415

    issuer = new_issuer()
    tokens = alice_tokens(issuer, USERS + 100, distinct_users=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "tokens.json"
        path.write_text(json.dumps([issuer.jwks(), tokens]))
        for label, flag in [("Python's defaults", "default"), ("quiet_collector", "quiet")]:
            result = subprocess.run(
                [sys.executable, "-m", "bench.bench_collector", "--arm", flag, str(path)],
                capture_output=True, text=True, cwd=ROOT, check=True, timeout=900,
            )  # fmt: skip
            rows.append((label, Tail(*json.loads(result.stdout.strip().splitlines()[-1]))))
    return rows


def describe(rows: list[tuple[str, Tail]]) -> str:
    lines = [f"  {'collector':<20} {'mean':>8} {'median':>8} {'p99.9':>9} {'longest':>10}  (us)"]
    for label, tail in rows:
        lines.append(f"  {label:<20} {tail.mean:8.1f} {tail.median:8.1f} {tail.p999:9.1f} "
                     f"{tail.longest:10.1f}")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    if "--arm" in sys.argv:
        arm, path = sys.argv[sys.argv.index("--arm") + 1], Path(sys.argv[-1])
        print(json.dumps(list(_measure(path, quiet=arm == "quiet"))))
        return 0
    print(f"the cyclic collector, {USERS:,} new users' fresh tokens on a record route")
    print(describe(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
