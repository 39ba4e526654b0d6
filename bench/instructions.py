"""Instructions per new user's request, counted by valgrind (callgrind): the handler on a record
and a token-level route, their floors, and the lean row (bench/lean.py).

Seconds on this shared machine move by ±20% between runs; instruction counts do not (the same
binary and inputs give the same count within 0.2%), so a change of a few microseconds shows here
when the timed rows cannot see it. Instructions are not time: Python between native calls runs
fewer instructions per cycle than OpenSSL or Cedar, so the time ratios are larger than these.

Each arm is a fresh interpreter under callgrind run twice, with 0 and with N requests on the same
prepared events (new users' fresh tokens); the difference divided by N is one request's count,
the set-up (imports, policies, the events) cancelled out. Then the cold start's arms, as
``bench.cold_start`` times them. Not in ``make bench`` (about 4 minutes):
``python -m bench.instructions`` (``BENCH_INSTRUCTIONS_N``, default 300).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from bench import authorizer_bench as ours
from bench.cold_start import (
    BARE,
    FIRST_DECISION,
    LAMBDA_RUNTIME,
    NEEDED,
    PLAIN_BARE,
    PLAIN_FIRST_DECISION,
    environment,
    packaged,
    serve_jwks,
)

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("BENCH_INSTRUCTIONS_N", "300"))
ARMS = ("handler, record route", "handler, token-level route", "floor, record route",
        "floor, token-level route", "lean, record route")  # fmt: skip
CHILD = (
    "import sys; from bench.instructions import child; "
    "child(sys.argv[1], sys.argv[2], int(sys.argv[3]))"
)


def prepare(path: Path, count: int = N) -> None:
    """``count`` new users' tokens in events of both routes (and one more, to warm up), and
    what verifies them, for the children (which cannot sign: the private key stays here)."""
    issuer = ours.new_issuer()
    tokens = ours.alice_tokens(issuer, count + 1, distinct_users=True)
    inputs = {
        "jwks": issuer.jwks(), "issuer": issuer.issuer, "client_id": issuer.client_id,
        "tokens": tokens,
        "record": [ours.event(t, *ours.RECORD) for t in tokens],
        "listing": [ours.event(t, *ours.LISTING) for t in tokens],
    }  # fmt: skip
    path.write_bytes(pickle.dumps(inputs))


def child(arm: str, path: str, count: int) -> None:
    """One arm: set up, one call to warm it (first-call costs out of the count), then ``count``
    calls. Run under callgrind by ``count_instructions``."""
    import types  # noqa: PLC0415

    import jwt  # noqa: PLC0415

    from authorizer.handler import quiet_collector  # noqa: PLC0415
    from authorizer.pdp import Authorizer  # noqa: PLC0415
    from authorizer.telemetry import Telemetry  # noqa: PLC0415
    from authorizer.tooling.local.sample import sample_environment  # noqa: PLC0415
    from bench.lean import Trusted, lean_authorizer  # noqa: PLC0415

    inputs = pickle.loads(Path(path).read_bytes())  # written by ``prepare``
    key_set = json.dumps(inputs["jwks"]).encode()
    named = types.SimpleNamespace(issuer=inputs["issuer"], client_id=inputs["client_id"])
    env = sample_environment(named, "http://127.0.0.1/.well-known/jwks.json")  # type: ignore[arg-type]
    authorizer = Authorizer.from_env(env, fetch=lambda _url: key_set)
    authorizer.telemetry = Telemetry(stream=ours._Discard())  # type: ignore[arg-type]
    events = inputs["listing" if "token-level" in arm else "record"]
    call: Callable[[int], Any]
    if arm.startswith("handler"):
        call = lambda i: authorizer.handle(events[i])  # noqa: E731
    elif arm.startswith("floor"):
        public = jwt.PyJWK(inputs["jwks"]["keys"][0]).key
        route = ours.LISTING if "token-level" in arm else ours.RECORD
        floor_inputs = ours._floor_inputs(authorizer, inputs["tokens"], route)
        call = ours.floor_call(authorizer, public, floor_inputs)
    else:
        trusted = Trusted(inputs["issuer"], inputs["client_id"], inputs["jwks"]["keys"][0]["kid"],
                          jwt.PyJWK(inputs["jwks"]["keys"][0]).key)  # fmt: skip
        lean = lean_authorizer(authorizer, trusted)
        call = lambda i: lean(events[i])  # noqa: E731
    quiet_collector()  # as the Lambda runs
    call(len(events) - 1)
    with sampled(os.environ.get(PERF_CONTROL)):
        started = time.perf_counter()
        for i in range(count):
            call(i)
        elapsed = time.perf_counter() - started
    print(f"elapsed {elapsed}")


# bench.where: the perf control and acknowledgement FIFOs, "ctl,ack"; the child's loop alone is
# sampled (perf record -D -1 --control fifo:ctl,ack).
PERF_CONTROL = "BENCH_PERF_CONTROL"


@contextlib.contextmanager
def sampled(control: str | None) -> Iterator[None]:
    """perf samples the block (``control``: its FIFOs), or nothing changes (None)."""
    if control is None:
        yield
        return
    ctl_path, ack_path = control.split(",")
    with open(ctl_path, "w") as ctl, open(ack_path) as ack:
        ctl.write("enable\n")
        ctl.flush()
        ack.readline()
        try:
            yield
        finally:
            ctl.write("disable\n")
            ctl.flush()
            ack.readline()


def count_instructions(arm: str, path: Path, count: int) -> int:
    """Instructions of the whole child process, by callgrind."""
    return callgrind(["-c", CHILD, arm, str(path), str(count)], os.environ)


def callgrind(arguments: list[str], env: Mapping[str, str]) -> int:
    """Instructions of a whole Python process run with ``arguments``, by callgrind."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, *arguments],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={**env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count: {result.stderr[-500:]}")
    return int(found.group(1))


class ColdCounts(NamedTuple):
    """Instructions of the cold start's timed part (``bench.cold_start``'s arms)."""

    bare: int  # importing cedarpy and PyJWT, after the Lambda runtime's imports
    needed: int  # importing what ours imports of others' (cedarpy, cryptography, urllib)
    first: int  # import + initialise + first decision, packaged, after the same
    plain_bare: int  # the same two from a bare interpreter
    plain_first: int


def cold_start_counts() -> ColdCounts:
    """Each arm's count less that of a process that makes only what precedes its timed part
    (the Lambda runtime's imports, or nothing)."""
    issuer = ours.new_issuer()
    url, server = serve_jwks(issuer.jwks())
    try:
        event = ours.event(ours.alice_tokens(issuer, 1)[0], *ours.RECORD)
        env = environment({**os.environ, **ours.sample_environment(issuer, url)}, event)
        with packaged(env):
            runtime, empty = callgrind(["-c", LAMBDA_RUNTIME], env), callgrind(["-c", ""], env)
            return ColdCounts(
                callgrind(["-c", BARE], env) - runtime,
                callgrind(["-c", NEEDED], env) - runtime,
                callgrind(["-c", FIRST_DECISION], env) - runtime,
                callgrind(["-c", PLAIN_BARE], env) - empty,
                callgrind(["-c", PLAIN_FIRST_DECISION], env) - empty,
            )
    finally:
        server.shutdown()


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "inputs.pickle"
        prepare(path)
        return {
            arm: (count_instructions(arm, path, N) - count_instructions(arm, path, 0)) / N
            for arm in ARMS
        }


def main() -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts")
        return 1
    counts = measure()
    print(f"instructions per new user's request (callgrind, {N} requests less none)")
    for arm, value in counts.items():
        print(f"  {arm:28s} {value / 1e6:6.3f} M")
    record, listing = counts[ARMS[0]], counts[ARMS[1]]
    floor, floor_listing, lean = counts[ARMS[2]], counts[ARMS[3]], counts[ARMS[4]]
    print(f"  handler / floor: record route {record / floor:.2f}x, token-level route "
          f"{listing / floor_listing:.2f}x; lean / floor {lean / floor:.2f}x; handler / lean "
          f"{record / lean:.2f}x")  # fmt: skip
    cold = cold_start_counts()
    print("instructions of a cold start (bench/cold_start.py's arms, after the Lambda runtime's "
          "imports)")  # fmt: skip
    print(f"  import cedarpy + PyJWT                       {cold.bare / 1e6:8.1f} M")
    print(f"  import cedarpy, cryptography, urllib         {cold.needed / 1e6:8.1f} M")
    print(f"  import + initialise + first decision (ours)  {cold.first / 1e6:8.1f} M")
    print(f"  ratio {cold.first / cold.bare:.3f}x; from a bare interpreter "
          f"{cold.plain_first / cold.plain_bare:.3f}x; against the imports ours needs "
          f"{cold.first / cold.needed:.3f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
