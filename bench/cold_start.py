"""Cold start: a fresh interpreter importing, initialising and answering its first request,
against one that only imports cedarpy and PyJWT, packaged as `make package-authorizer` packages it
(compiled policy store, byte code). Timed inside the process (interpreter start-up
excluded, it is the same for both), median of several fresh processes."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from authorizer.cedar.compiled import COMPILED_NAME

ROOT = Path(__file__).resolve().parent.parent

BARE = """
import time
started = time.perf_counter()
import cedarpy, jwt, jwt.algorithms
print((time.perf_counter() - started) * 1e6)
"""

FIRST_DECISION = """
import time
started = time.perf_counter()
import json, os
from authorizer import handler
event = json.loads(os.environ["BENCH_EVENT"])
answer = handler.lambda_handler(event, None)
assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", answer
print((time.perf_counter() - started) * 1e6)
"""


# The handler with its key-set fetch started on the first request, as before it was started at
# import (authorizer/identity/prefetch.py): the fetch function is the plain one.
FETCHED_ON_REQUEST = FIRST_DECISION.replace(
    "from authorizer import handler",
    "from authorizer.identity import prefetch\n"
    "prefetch.key_sets_ahead = lambda *_args, **_kwargs: prefetch.http_fetch\n"
    "from authorizer import handler",
)
ISSUER_AWAY_MS = 30  # a round trip to the issuer's key-set endpoint, TLS included


class ColdStart(NamedTuple):
    """Medians in us, timed after interpreter start-up (the same for every arm)."""

    bare: float  # importing cedarpy and PyJWT
    first: float  # import + init + first decision, packaged as the SAM build packages it
    uncompiled: float  # the same reading the policy files (no compiled policy store)
    ratio: float  # median over the rounds of first / bare (robust to drift between rounds)
    uncompiled_ratio: float


def _run(code: str, env: dict[str, str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return float(result.stdout.strip().splitlines()[-1])


def compile_sources() -> None:
    """Byte-compile the project first, as pip did for cedarpy and PyJWT: otherwise (with
    PYTHONDONTWRITEBYTECODE set, as on this machine) every fresh interpreter compiles our
    sources and the comparison is unfair. A Lambda package should ship them compiled too."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for package in ("authorizer", "pre_token_hook"):
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", package], env=env, cwd=ROOT, check=True
        )


def cold_start(env: dict[str, str], runs: int = 11) -> ColdStart:
    """The arms run interleaved, one of each per round, so that a machine slowing down or
    speeding up during the measurement moves all of them alike; the ratios are the medians of
    each round's ratio."""
    compile_sources()
    policies = Path(env["CEDAR_POLICY_DIR"])
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "policies"  # the same policies with no compiled store
        shutil.copytree(policies, plain, ignore=shutil.ignore_patterns(COMPILED_NAME))
        subprocess.run(
            [sys.executable, "-m", "authorizer.tooling.cli", "compile"], env=env, cwd=ROOT,
            check=True,
            capture_output=True,
        )  # fmt: skip
        uncompiled_env = {**env, "CEDAR_POLICY_DIR": str(plain)}
        bare, first, uncompiled = [], [], []
        try:
            for _ in range(runs):
                bare.append(_run(BARE, env))
                first.append(_run(FIRST_DECISION, env))
                uncompiled.append(_run(FIRST_DECISION, uncompiled_env))
        finally:
            (policies / COMPILED_NAME).unlink(missing_ok=True)  # an edit would make it stale
    median = statistics.median
    return ColdStart(
        median(bare), median(first), median(uncompiled),
        median(f / b for f, b in zip(first, bare, strict=True)),
        median(u / b for u, b in zip(uncompiled, bare, strict=True)),
    )  # fmt: skip


def key_sets_fetched_ahead(env: dict[str, str], runs: int = 9) -> tuple[float, float]:
    """Medians in us of the first decision with the key set fetched ahead (the handler as it
    is) and fetched on the first request, in turns, with ``env``'s key-set endpoint away
    (``ISSUER_AWAY_MS``). The compiled store is made first, as in ``cold_start``."""
    compile_sources()
    policies = Path(env["CEDAR_POLICY_DIR"])
    subprocess.run(
        [sys.executable, "-m", "authorizer.tooling.cli", "compile"], env=env, cwd=ROOT,
        check=True, capture_output=True,
    )  # fmt: skip
    ahead, on_request = [], []
    try:
        for _ in range(runs):
            ahead.append(_run(FIRST_DECISION, env))
            on_request.append(_run(FETCHED_ON_REQUEST, env))
    finally:
        (policies / COMPILED_NAME).unlink(missing_ok=True)
    return statistics.median(ahead), statistics.median(on_request)


def environment(base: dict[str, str], event: dict[str, object]) -> dict[str, str]:
    return {**base, "BENCH_EVENT": json.dumps(event), "PYTHONPATH": str(ROOT)}
