"""Cold start: a fresh interpreter importing, initialising and answering its first request,
against one that only imports cedarpy and PyJWT. Timed inside the process (interpreter start-up
excluded, it is the same for both), median of several fresh processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

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


def cold_start(env: dict[str, str], runs: int = 7) -> tuple[float, float]:
    """(median us of bare imports, median us of import + init + first decision)."""
    compile_sources()
    bare = [_run(BARE, env) for _ in range(runs)]
    first = [_run(FIRST_DECISION, env) for _ in range(runs)]
    return statistics.median(bare), statistics.median(first)


def environment(base: dict[str, str], event: dict[str, object]) -> dict[str, str]:
    return {**base, "BENCH_EVENT": json.dumps(event), "PYTHONPATH": str(ROOT)}
