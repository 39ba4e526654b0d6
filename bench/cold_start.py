"""Cold start: a fresh interpreter importing, initialising and answering its first request,
against one that only imports cedarpy and PyJWT, packaged as `make package-authorizer` packages it
(compiled policy store, byte code). Timed inside the process (interpreter start-up excluded,
it is the same for both), median of several fresh processes. Each process first imports what
Lambda's Python runtime has imported before it loads a handler (``LAMBDA_RUNTIME``, untimed);
the plain arms, without it, are printed too."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

from authorizer.cedar.compiled import COMPILED_NAME

ROOT = Path(__file__).resolve().parent.parent

# What Lambda's Python runtime has imported when it imports the handler module: its bootstrap
# (awslambdaric/bootstrap.py: importlib, json, logging, os, sys, time, traceback) and its runtime
# client (lambda_runtime_client.py: concurrent.futures.ThreadPoolExecutor). Every arm starts
# from there, untimed, as a Lambda's init does; the plain arms start from a bare interpreter.
LAMBDA_RUNTIME = """
import importlib, json, logging, os, sys, time, traceback
from concurrent.futures import ThreadPoolExecutor
"""

PLAIN_BARE = """
import time
started = time.perf_counter()
import cedarpy, jwt, jwt.algorithms
print((time.perf_counter() - started) * 1e6)
"""

PLAIN_FIRST_DECISION = """
import time
started = time.perf_counter()
import json, os
from authorizer import handler
event = json.loads(os.environ["BENCH_EVENT"])
answer = handler.lambda_handler(event, None)
assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", answer
print((time.perf_counter() - started) * 1e6)
"""

# What ours imports of other people's code since it stopped importing PyJWT (stop 22): cedarpy,
# cryptography's signature primitives, and urllib for the key-set fetch. The issue's target is
# against PLAIN_BARE (cedarpy and PyJWT, ~30 ms more than this on this machine); this arm says
# how far ours is from the least its own imports cost, so that beating the target by not
# importing PyJWT is not read as having no cost of its own.
PLAIN_NEEDED = """
import time
started = time.perf_counter()
import cedarpy, urllib.request
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives import hashes
print((time.perf_counter() - started) * 1e6)
"""

BARE = LAMBDA_RUNTIME + PLAIN_BARE
NEEDED = LAMBDA_RUNTIME + PLAIN_NEEDED
FIRST_DECISION = LAMBDA_RUNTIME + PLAIN_FIRST_DECISION


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
    """Medians in us, timed after interpreter start-up and the Lambda runtime's own imports (the
    same for every arm)."""

    bare: float  # importing cedarpy and PyJWT
    needed: float  # importing what ours imports of others' (cedarpy, cryptography, urllib)
    first: float  # import + init + first decision, packaged as the SAM build packages it
    uncompiled: float  # the same reading the policy files (no compiled policy store)
    ratio: float  # median over the rounds of first / bare (robust to drift between rounds)
    needed_ratio: float  # the same of first / needed
    uncompiled_ratio: float
    plain_ratio: float  # first / bare from a bare interpreter (no runtime's imports before)


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


# Rounds of the cold start arms: a fresh process moves by ±15% on this shared machine, and a
# round's ratio by as much; the median of 21 rounds moves by a few hundredths.
COLD_START_ROUNDS = 21


@contextlib.contextmanager
def packaged(env: dict[str, str]) -> Iterator[None]:
    """The project as ``make package-authorizer`` packages it: our sources byte-compiled and
    the compiled policy store written into ``env``'s policy folder (removed after: an edit of
    the policies would make it stale)."""
    compile_sources()
    policies = Path(env["CEDAR_POLICY_DIR"])
    subprocess.run(
        [sys.executable, "-m", "authorizer.tooling.cli", "compile"], env=env, cwd=ROOT,
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield
    finally:
        (policies / COMPILED_NAME).unlink(missing_ok=True)


def cold_start(env: dict[str, str], runs: int = COLD_START_ROUNDS) -> ColdStart:
    """The arms run interleaved, one of each per round, so that a machine slowing down or
    speeding up during the measurement moves all of them alike; the ratios are the medians of
    each round's ratio."""
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "policies"  # the same policies with no compiled store
        shutil.copytree(
            env["CEDAR_POLICY_DIR"], plain, ignore=shutil.ignore_patterns(COMPILED_NAME)
        )
        uncompiled_env = {**env, "CEDAR_POLICY_DIR": str(plain)}
        bare, needed, first, uncompiled, plain_bare, plain_first = [], [], [], [], [], []
        with packaged(env):
            for _ in range(runs):
                bare.append(_run(BARE, env))
                needed.append(_run(NEEDED, env))
                first.append(_run(FIRST_DECISION, env))
                uncompiled.append(_run(FIRST_DECISION, uncompiled_env))
                plain_bare.append(_run(PLAIN_BARE, env))
                plain_first.append(_run(PLAIN_FIRST_DECISION, env))
    median = statistics.median
    return ColdStart(
        median(bare), median(needed), median(first), median(uncompiled),
        median(f / b for f, b in zip(first, bare, strict=True)),
        median(f / n for f, n in zip(first, needed, strict=True)),
        median(u / b for u, b in zip(uncompiled, bare, strict=True)),
        median(f / b for f, b in zip(plain_first, plain_bare, strict=True)),
    )  # fmt: skip


def key_sets_fetched_ahead(env: dict[str, str], runs: int = 9) -> tuple[float, float]:
    """Medians in us of the first decision with the key set fetched ahead (the handler as it
    is) and fetched on the first request, in turns, with ``env``'s key-set endpoint away
    (``ISSUER_AWAY_MS``), packaged as in ``cold_start``."""
    ahead, on_request = [], []
    with packaged(env):
        for _ in range(runs):
            ahead.append(_run(FIRST_DECISION, env))
            on_request.append(_run(FETCHED_ON_REQUEST, env))
    return statistics.median(ahead), statistics.median(on_request)


def serve_jwks(
    document: dict[str, object], delay_s: float = 0.0
) -> tuple[str, ThreadingHTTPServer]:
    """The key set on loopback; ``delay_s``: each answer that much later (an issuer's round
    trip, its TLS handshake included)."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", server


def environment(base: dict[str, str], event: dict[str, object]) -> dict[str, str]:
    return {**base, "BENCH_EVENT": json.dumps(event), "PYTHONPATH": str(ROOT)}
