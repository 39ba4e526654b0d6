"""Where a new user's request spends its time, by library: the Python interpreter, Cedar
(cedarpy), OpenSSL's RSA (cryptography), the C allocator and the rest, sampled by ``perf``.

The arms and their inputs are ``bench.instructions``'s (the handler on a record and a
token-level route, their floors, the lean row), each a fresh interpreter that samples only its
loop of N requests (perf's control FIFOs, ``instructions.sampled``) and times it: each library's
share of the samples times the loop's time per request is one request's time in that library.
It answers what the instruction counts cannot: whether the handler is slower than the floor
because of its own Python, or because Cedar and OpenSSL run slower beside it.

Not in ``make bench`` (it needs ``perf``, under a minute): ``python -m bench.where``
(``BENCH_WHERE_N``, default 5000 requests). The times are means (a
sampled run has no per-request times), so they run above ``make bench``'s medians.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.instructions import ARMS, CHILD, PERF_CONTROL, ROOT, prepare

N = int(os.environ.get("BENCH_WHERE_N", "5000"))
HERTZ = 4_000  # samples per second of CPU time
# Shared objects by the part of the work they do (any other: "other").
LIBRARIES = {
    "libpython": "Python",  # the interpreter: our code, and cedarpy's and PyJWT's Python
    "_internal": "Cedar",  # cedarpy's Rust: parsing entities and requests, evaluating
    "_rust.abi3": "OpenSSL",  # cryptography: the RS256 verify
    "libcrypto": "OpenSSL",
    "libc.so": "malloc",  # the C allocator (Rust's and Python's large blocks), memcpy
    "_json": "json",
    "binascii": "base64",
    "[kernel": "kernel",  # page faults of memory the caches keep
}
PARTS = ("Python", "Cedar", "OpenSSL", "malloc", "json", "base64", "kernel", "other")


def sampled_run(arm: str, path: Path, scratch: Path) -> tuple[float, Counter[str]]:
    """One arm's loop: its seconds per request, and its samples by part."""
    data, ctl, ack = scratch / "perf.data", scratch / "ctl", scratch / "ack"
    for fifo in (ctl, ack):
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
    run = subprocess.run(
        ["perf", "record", "-q", "-F", str(HERTZ), "-D", "-1", "--control",
         f"fifo:{ctl},{ack}", "-o", str(data), "--",
         sys.executable, "-c", CHILD, arm, str(path), str(N)],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), PERF_CONTROL: f"{ctl},{ack}"},
    )  # fmt: skip
    elapsed = float(re.findall(r"elapsed (\S+)", run.stdout)[-1])
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "-n", "--sort", "dso", "--stdio"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return elapsed / N, parts_of(report.stdout)


def parts_of(report: str) -> Counter[str]:
    """The samples of ``perf report -n --sort dso --stdio`` by part (``LIBRARIES``)."""
    found: Counter[str] = Counter()
    for line in report.splitlines():
        row = re.match(r"\s*[\d.]+%\s+(\d+)\s+(\S+)", line)
        if row:
            library = row.group(2)
            part = next((p for key, p in LIBRARIES.items() if key in library), "other")
            found[part] += int(row.group(1))
    return found


def measure() -> dict[str, dict[str, float]]:
    """Per arm, one request's microseconds in each part."""
    per_request: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "inputs.pickle"
        prepare(path, N)
        for arm in ARMS:
            seconds, found = sampled_run(arm, path, Path(scratch))
            total = sum(found.values()) or 1
            per_request[arm] = {part: found[part] / total * seconds * 1e6 for part in PARTS}
    return per_request


def main() -> int:
    if shutil.which("perf") is None:
        print("perf is not installed: nothing to sample")
        return 1
    found = measure()
    print(f"microseconds per new user's request, by library: perf's share of the samples times "
          f"the mean time of {N} requests")  # fmt: skip
    width = max(len(arm) for arm in ARMS)
    print(f"  {'':{width}}" + "".join(f"{part:>9}" for part in PARTS) + f"{'all':>9}")
    for arm, parts in found.items():
        cells = "".join(f"{parts[part]:9.1f}" for part in PARTS)
        print(f"  {arm:{width}}{cells}{sum(parts.values()):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
