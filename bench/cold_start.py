"""Cold start: a fresh interpreter importing, initialising and answering its first request,
against one that only imports cedarpy and PyJWT, packaged as `make package-authorizer` packages it
(compiled policy store, byte code). Timed inside the process (interpreter start-up
excluded, it is the same for both), median of several fresh processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from authorizer.compiled import COMPILED_NAME

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


def cold_start(env: dict[str, str], runs: int = 7) -> tuple[float, float, float]:
    """Median us of: the bare imports; import + init + first decision as the SAM build packages
    the function (compiled policy store, .pyc files); the same reading the policy files."""
    compile_sources()
    store = Path(env["CEDAR_POLICY_DIR"]) / COMPILED_NAME
    bare = [_run(BARE, env) for _ in range(runs)]
    slow = [_run(FIRST_DECISION, env) for _ in range(runs)]
    subprocess.run(
        [sys.executable, "-m", "authorizer.cli", "compile"], env=env, cwd=ROOT, check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        first = [_run(FIRST_DECISION, env) for _ in range(runs)]
    finally:
        store.unlink(missing_ok=True)  # a later policy edit would find it stale anyway
    return statistics.median(bare), statistics.median(first), statistics.median(slow)


def environment(base: dict[str, str], event: dict[str, object]) -> dict[str, str]:
    return {**base, "BENCH_EVENT": json.dumps(event), "PYTHONPATH": str(ROOT)}
