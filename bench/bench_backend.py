"""The backend API's batch forms against the single calls they replace, in the same run:

- ``allowed_actions`` over 30 actions vs 30 ``is_authorized`` calls. The actions come from a
  schema generated in a temporary directory (namespace ``Bench``: 30 actions on a ``Doc``, one
  permit per action reading the principal's permissions and level, one tenant ``forbid``), not
  the sample's actions repeated.
- ``redact`` of 100 employee records (``employmentInfo`` and ``salary``: 200 decisions) vs 100
  ``is_authorized`` calls, on the sample application with 100 generated employees added to its
  entity store.

The principal is a verified caller (``Authorizer.verify``), as in a backend after the
middleware identified it. ``python -m bench.bench_backend`` prints the rows and the ratios.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from authorizer.sdk.client import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.sample import ROOT, sample_environment
from authorizer.tooling.local.users import split_profile
from bench.timing import Row, measure, table

ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000")) // 10 or 1
ACTIONS = [f"act_{n:02d}" for n in range(30)]
RECORDS = 100
ACTIONS_BATCH = "backend: allowed_actions, 30 actions (one batch)"
ACTIONS_SINGLE = "baseline: 30 single is_authorized calls"
REDACT_BATCH = "backend: redact 100 records, 2 fields each (one batch)"
REDACT_SINGLE = "baseline: 100 single is_authorized calls"

SCHEMA = """namespace Bench {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup] = { "tenant"?: String, "permissions"?: Set<String>, "level"?: Long };
  entity Doc = { "tenant": String, "level": Long };
  action %s appliesTo { principal: User, resource: Doc, context: {} };
}
"""
PERMIT = """@id("%(a)s")
permit (principal, action == Bench::Action::"%(a)s", resource)
when { principal has permissions && principal.permissions.contains("%(a)s") &&
       principal has level && principal.level >= resource.level };
"""
FORBID = """@id("tenant-isolation")
forbid (principal, action, resource)
unless { principal has tenant && principal.tenant == resource.tenant };
"""


def _authorizer(issuer: LocalIssuer, **overrides: str) -> Authorizer:
    jwks = json.dumps(issuer.jwks()).encode()
    env = {**sample_environment(issuer, "http://127.0.0.1/.well-known/jwks.json"), **overrides}
    return Authorizer.from_env(env, fetch=lambda _url: jwks)


def actions_rows(issuer: LocalIssuer, directory: Path, iterations: int) -> list[Row]:
    (directory / "policies").mkdir()
    names = ", ".join(json.dumps(a) for a in ACTIONS)
    (directory / "bench.cedarschema").write_text(SCHEMA % names)
    policies = "\n".join(PERMIT % {"a": a} for a in ACTIONS) + "\n" + FORBID
    (directory / "policies" / "bench.cedar").write_text(policies)
    doc: dict[str, Any] = {
        "uid": {"type": "Bench::Doc", "id": "d1"},
        "attrs": {"tenant": "t1", "level": 2},
        "parents": [],
    }
    (directory / "bench.json").write_text(json.dumps([doc]))
    authz = _authorizer(
        issuer,
        CEDAR_POLICY_DIR=str(directory / "policies"),
        CEDAR_SCHEMA=str(directory / "bench.cedarschema"),
        CEDAR_ENTITIES=str(directory / "bench.json"),
    )
    token = issuer.token("u1", extra={"tenant": "t1", "level": 3, "permissions": ACTIONS[::2]})
    caller = authz.verify(token)
    resource: dict[str, str] = doc["uid"]
    assert authz.allowed_actions(caller, resource, ACTIONS) == ACTIONS[::2]
    singles = [a for a in ACTIONS if authz.is_authorized(caller, a, resource).allowed]
    assert singles == ACTIONS[::2]
    return [
        measure(ACTIONS_BATCH, lambda _i: authz.allowed_actions(caller, resource, ACTIONS),
                iterations),
        measure(ACTIONS_SINGLE,
                lambda _i: [authz.is_authorized(caller, a, resource) for a in ACTIONS],
                iterations),
    ]  # fmt: skip


def redact_rows(issuer: LocalIssuer, directory: Path, iterations: int) -> list[Row]:
    entities: list[dict[str, Any]] = json.loads((ROOT / "entities" / "corp.json").read_text())
    employees: list[dict[str, Any]] = [
        {"uid": {"type": "Corp::Employee", "id": f"emp-b{n:03d}"}, "parents": [],
         "attrs": {"tenant": "acme", "division": ("engineering", "finance")[n % 2],
                   "group": {"__entity": {"type": "Corp::UserGroup",
                                          "id": ("engineering", "finance")[n % 2]}}}}
        for n in range(RECORDS)
    ]  # fmt: skip
    (directory / "corp.json").write_text(json.dumps(entities + employees))
    authz = _authorizer(issuer, CEDAR_ENTITIES=str(directory / "corp.json"))
    groups, claims = split_profile("hank")
    caller = authz.verify(issuer.token("hank", groups=groups, extra=claims))
    uids: list[Any] = [e["uid"] for e in employees]
    documents = [{"id": u["id"], "employmentInfo": {"grade": 3}, "salary": {"annual": 1}}
                 for u in uids]  # fmt: skip
    redacted = authz.redact(documents, caller, uids)
    assert [set(d) for d in redacted[:2]] == [{"id", "employmentInfo", "salary"}, {"id"}]
    return [
        measure(REDACT_BATCH, lambda _i: authz.redact(documents, caller, uids), iterations),
        measure(REDACT_SINGLE,
                lambda _i: [authz.is_authorized(caller, "view_salary", u) for u in uids],
                iterations),
    ]  # fmt: skip


def run(iterations: int = ITERATIONS) -> list[tuple[str, float, float]]:
    issuer = LocalIssuer(keys=[SigningKey.rsa("bench-backend")])
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        rows = actions_rows(issuer, Path(first), iterations)
        rows += redact_rows(issuer, Path(second), max(iterations // 4, 1))
    return [(r.label, r.median_us, r.p99_us) for r in rows]


def main() -> None:
    rows = run()
    print(table([Row(*r) for r in rows]))
    by = {label: median for label, median, _ in rows}
    for batch, single in [(ACTIONS_BATCH, ACTIONS_SINGLE), (REDACT_BATCH, REDACT_SINGLE)]:
        ratio = by[batch] / by[single]
        verdict = "ok" if ratio <= 0.3 else "MISSED"
        print(f"  {batch} / singles: {ratio:.2f}x  target <= 0.3  {verdict}")


if __name__ == "__main__":
    main()
