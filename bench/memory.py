"""Memory against callers x store size: a ~10 MB entity file, then 10,000 distinct users' fresh
tokens on record routes (a random employee each), in a fresh interpreter. RSS is read after
start-up, after the authorizer loaded the store (the store's own size), and after the users
(the growth the target bounds). Run alone: ``python -m bench.memory``."""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
USERS = 10_000
GROUPS = 1_000
EMPLOYEES = 27_000  # with the groups, a ~10 MB file (measured by the run, printed)
TARGET_MB = 100.0


class MemoryRow(NamedTuple):
    """Resident set sizes in MB (``/proc/self/statm``), and the run's sizes."""

    started: float  # the interpreter with the authorizer's modules imported
    loaded: float  # the authorizer built: policies, schema, the entity store
    after: float  # after USERS distinct users' requests (every cache as full as they make it)
    file_mb: float
    users: int
    seconds: float  # the users' requests, wall clock

    @property
    def store(self) -> float:
        return self.loaded - self.started

    @property
    def growth(self) -> float:
        return self.after - self.loaded


def entity_file(path: Path, rng: random.Random) -> None:
    """The sample schema's groups and employees: groups nest ten to a parent, each employee
    names a group (whose HR group the policies read) and three viewers."""
    entities: list[dict[str, Any]] = []
    for n in range(GROUPS):
        hr = {"__entity": {"type": "Corp::UserGroup", "id": f"hr-{n}"}}
        parents = [{"type": "Corp::UserGroup", "id": f"g{n // 10}"}] if n >= 10 else []
        entities.append({"uid": {"type": "Corp::UserGroup", "id": f"g{n}"},
                         "attrs": {"hrGroup": hr}, "parents": parents})  # fmt: skip
        entities.append({"uid": {"type": "Corp::UserGroup", "id": f"hr-{n}"}, "attrs": {},
                         "parents": []})  # fmt: skip
    for n in range(EMPLOYEES):
        viewers = [{"__entity": {"type": "Corp::User", "id": f"auditor-{rng.randrange(500)}"}}
                   for _ in range(3)]  # fmt: skip
        entities.append({
            "uid": {"type": "Corp::Employee", "id": f"emp-{n:06d}"},
            "attrs": {"tenant": "acme", "division": "engineering",
                      "group": {"__entity": {"type": "Corp::UserGroup",
                                             "id": f"g{rng.randrange(GROUPS)}"}},
                      "employmentInfoViewers": viewers},
            "parents": [],
        })  # fmt: skip
    path.write_text(json.dumps(entities), encoding="utf-8")


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _measure(scratch: Path) -> MemoryRow:
    """In this (fresh) interpreter."""
    from authorizer.gateway.response import policy_allows  # noqa: PLC0415
    from authorizer.tooling.local.users import split_profile  # noqa: PLC0415
    from bench.authorizer_bench import event, make_authorizer, new_issuer  # noqa: PLC0415

    rng = random.Random(7)
    store = scratch / "entities.json"
    entity_file(store, rng)
    issuer = new_issuer()
    groups, claims = split_profile("alice")
    # Signed before the measurement starts (signing is the issuer's work, not ours).
    tokens = [issuer.token(f"user-{n}", groups=groups, extra=claims) for n in range(USERS)]
    paths = [f"/employees/emp-{rng.randrange(EMPLOYEES):06d}" for _ in range(USERS)]
    events = [
        event(t, "GET", p, "/employees/{employeeId}") for t, p in zip(tokens, paths, strict=True)
    ]
    del tokens
    gc.collect()
    started = rss_mb()
    authorizer = make_authorizer(issuer, CEDAR_ENTITIES=str(store))
    gc.collect()
    loaded = rss_mb()
    clock = time.perf_counter()
    allowed = 0
    for item in events:
        allowed += policy_allows(authorizer.handle(item), item["methodArn"])
    seconds = time.perf_counter() - clock
    assert allowed == USERS, f"{allowed} of {USERS} allowed"  # alice's claims read any record
    gc.collect()
    after = rss_mb()
    return MemoryRow(started, loaded, after, store.stat().st_size / 1e6, USERS, seconds)


def measure() -> MemoryRow:
    """``_measure`` in a fresh interpreter: nothing else the bench allocated counts."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=900,
    )
    return MemoryRow(*json.loads(result.stdout.strip().splitlines()[-1]))


LOAD = """
import sys, time
from pathlib import Path
from authorizer.cedar.engine import Engine
from bench.memory import rss_mb
before, started = rss_mb(), time.perf_counter()
Engine.load(Path("policies"), Path("schemas/corp.cedarschema"), Path("entities/big.json"),
            use_compiled=sys.argv[1] == "compiled")
print(time.perf_counter() - started, rss_mb() - before)
"""


def store_loads() -> list[tuple[str, float, float]]:
    """The engine loading the same ~10 MB entity file in fresh interpreters: with the compiled
    store vouching for it (``cedar-authz compile`` validated it: indexed, not parsed whole by
    Cedar), and the long way (validated by parsing it whole). (label, seconds, MB of RSS)."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for folder in ("policies", "schemas"):
            shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns(".*"))
        (root / "entities").mkdir()
        entity_file(root / "entities" / "big.json", random.Random(7))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "authorizer.tooling.cli", "compile"], cwd=root,
                       env=env, check=True, capture_output=True, timeout=900)  # fmt: skip
        for label, arm in [("compiled store vouches for the file", "compiled"),
                           ("the long way (Cedar parses it whole)", "files")]:  # fmt: skip
            command = [sys.executable, "-c", LOAD, arm]
            result = subprocess.run(command, cwd=root, env=env, check=True,
                                    capture_output=True, text=True, timeout=900)  # fmt: skip
            seconds, grown = map(float, result.stdout.split())
            rows.append((label, seconds, grown))
    return rows


def describe(row: MemoryRow) -> str:
    return (
        f"  entity file {row.file_mb:.1f} MB: RSS {row.started:.0f} MB after imports, "
        f"{row.loaded:.0f} MB with the store loaded (the store: {row.store:.0f} MB), "
        f"{row.after:.0f} MB after {row.users:,} distinct users' fresh tokens "
        f"(+{row.growth:.1f} MB; {row.seconds / row.users * 1e6:.0f} us per request)"
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        row = _measure(Path(scratch))
    if "--json" in sys.argv:
        print(json.dumps(list(row)))
    else:
        print(describe(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
