"""`make bench`: every figure is measured in this run, on this machine, on the same tokens and
policies; targets are checked as ratios between rows of the same run (machines are noisy)."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import jwt

from authorizer.gateway.response import policy_allows
from authorizer.handler import quiet_collector
from bench import authorizer_bench as ours
from bench import (
    bench_backend,
    bench_bundles,
    bench_collector,
    bench_policies,
    bench_pre_token_hook,
    bench_revocation,
    bench_store,
    memory,
)
from bench.cold_start import (
    COLD_START_ROUNDS,
    ISSUER_AWAY_MS,
    cold_start,
    environment,
    key_sets_fetched_ahead,
    serve_jwks,
)
from bench.lean import LEAN, LEAN_NOTE, lean_calls
from bench.timing import Row, measure_together, table

ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000"))
CEDARLING = "cedarling signed, new token each call"
CEDARLING_NEW_USER = "cedarling signed, new user each call"
OURS_RETURNING = "handler on Cedarling's tokens: one user, new token each call"
OURS_NEW_USER = "handler on Cedarling's tokens: new user each call"


def main_rows(issuer: ours.LocalIssuer) -> list[Row]:
    """The handler, the floor and baselines, Cedarling, and our handler on Cedarling's very
    tokens (GET /employees, a new token each call: one user's refreshed tokens, and a new user
    each call), all measured in turns so that their ratios hold on a noisy machine."""
    calls = {**ours.handler_calls(issuer, ITERATIONS), **ours.baseline_calls(issuer, ITERATIONS),
             **lean_calls(issuer, ITERATIONS)}  # fmt: skip
    returning = ours.alice_tokens(issuer, ITERATIONS + 100)
    new_users = ours.alice_tokens(issuer, ITERATIONS + 100, distinct_users=True)
    for label, tokens in [(OURS_RETURNING, returning), (OURS_NEW_USER, new_users)]:
        authorizer = ours.make_authorizer(issuer)
        events = [ours.event(t, "GET", "/employees", "/employees") for t in tokens]
        calls[label] = lambda i, a=authorizer, e=events: a.handle(e[i])
    with contextlib.ExitStack() as stack:
        try:
            peer = importlib.import_module("bench.cedarling_peer")
        except ImportError as error:
            print(f"(Cedarling skipped: {error}; `make bench` installs cedarling-python)\n")
        else:
            jwks = issuer.jwks()
            calls |= stack.enter_context(
                peer.signed_calls(returning, issuer.issuer, jwks, new_users)
            )
            calls |= stack.enter_context(peer.unsigned_calls(returning))
        notes = {**ours.HANDLER_NOTES, **ours.BASELINE_NOTES, LEAN: LEAN_NOTE}
        # As the Lambda runs (handler.get_authorizer): what was built before the requests is
        # frozen out of the collector's passes, and full passes are rarer. For every row alike.
        quiet_collector()
        return measure_together(calls, ITERATIONS, notes=notes)


# Issue 14: policies on the requested action that cannot apply to the caller (one per user or
# group of a big tenant base), ours against Cedarling on the same tokens.
SAME_ACTION_POLICIES = int(os.environ.get("BENCH_SAME_ACTION_POLICIES", "10000"))
# Cedarling's call grows with the policy count (~40 ms with 10,000 on this machine): 300 calls.
SAME_ACTION_ITERATIONS = min(ITERATIONS, 300)
OURS_SAMPLE_ONLY = "handler, sample policies only: new user each call, GET /employees"
CEDARLING_SAME_ACTION = "Cedarling signed, {:,} same-action policies: new user each call"


def ours_same_action_label(count: int) -> str:
    return f"handler, {count:,} same-action policies: new user each call, GET /employees"


def same_action_policy_dir(root: Path, count: int) -> Path:
    """A copy of the sample application's policy folder under ``root`` plus ``count`` policies
    on GET /employees, policy i for user ``u<i>`` (odd i) or group ``g<i>`` (even i), ids no
    sample user or group has: the policies Cedarling's side of the rows gets, in our terms."""
    folder = root / "policies"
    env = ours.sample_environment(ours.new_issuer(), "")
    shutil.copytree(env["CEDAR_POLICY_DIR"], folder)
    action = 'action == Corp::Action::"get /employees"'
    texts = [
        f'@id("same-action-{i}")\npermit (principal '
        + (f'== Corp::User::"u{i}"' if i % 2 else f'in Corp::UserGroup::"g{i}"')
        + f", {action}, resource);"
        for i in range(count)
    ]
    (folder / "same-action.cedar").write_text("\n".join(texts) + "\n")
    return folder


def same_action_probes(issuer: ours.LocalIssuer, count: int) -> list[str]:
    """Tokens with the sample's claims but no grant of the sample's own (no employee:read
    permission, no hr group): users and groups the extra policies are for (the first and the
    last of each kind), and ones they are not for. With ``count`` extra policies the first
    ones are allowed GET /employees, the others denied; with none, all are denied."""
    claims = {"tenant": "acme", "department": "engineering"}
    last = count - 1  # a user's policy when odd, a group's when even
    users = ["u1", f"u{last - (last % 2 == 0)}", "u2", f"u{count + 1}"]
    groups = ["g0", f"g{last - last % 2}", "g1", f"g{count + 2}"]
    return [issuer.token(u, groups=["engineering"], extra=claims) for u in users] + [
        issuer.token(f"member-of-{g}", groups=["engineering", g], extra=claims) for g in groups
    ]


def _kept(authorizer: ours.Authorizer, events: list[dict[str, Any]], kept: list[Any]) -> ours.Call:
    """A timed call that keeps its answer, judged after the measurement."""

    def call(i: int) -> None:
        kept[i] = authorizer.handle(events[i])

    return call


def same_action_rows(
    issuer: ours.LocalIssuer, iterations: int, policies: int = SAME_ACTION_POLICIES
) -> list[Row]:
    """Our handler and Cedarling (signature validation on, token cache off) deciding
    GET /employees for a new user each call, on the very same tokens, with the sample's
    policies alone and with ``policies`` more on that action for other users and groups;
    the four rows measured in turns. Every decision is checked: Cedarling's as it is made,
    ours after the measurement (the answers are kept, not judged inside the timing). Empty
    when cedarling-python is not installed."""
    try:
        peer = importlib.import_module("bench.cedarling_peer")
    except ImportError as error:
        print(f"(same-action rows skipped: {error}; `make bench` installs cedarling-python)\n")
        return []
    tokens = ours.alice_tokens(issuer, iterations + 100, distinct_users=True)
    probes = same_action_probes(issuer, policies)
    events = [ours.event(t, *ours.LISTING) for t in tokens]
    arn = events[0]["methodArn"]
    # Not the caller's action: alice is no admin, and no extra policy is on it.
    other = ours.event(tokens[0], "PUT", "/employees/emp-001/status",
                       "/employees/{employeeId}/status")  # fmt: skip
    kept: dict[str, list[Any]] = {}
    calls: dict[str, ours.Call] = {}
    with (
        tempfile.TemporaryDirectory(prefix="same-action-") as tmp,
        peer.same_action_calls(tokens, issuer.issuer, issuer.jwks(), policies, probes) as theirs,
    ):
        folder = same_action_policy_dir(Path(tmp), policies)
        for label, overrides in [
            (OURS_SAMPLE_ONLY, {}),
            (ours_same_action_label(policies), {"CEDAR_POLICY_DIR": str(folder)}),
        ]:
            extra = policies if overrides else 0
            authorizer = ours.make_authorizer(issuer, **overrides)
            for token in tokens[:3] + probes:
                want = peer.same_action_expected(token, extra)
                if ours.allowed(authorizer, ours.event(token, *ours.LISTING)) != want:
                    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
                    raise RuntimeError(f"{label}: GET /employees for {sub!r} allowed {not want}")
            if ours.allowed(authorizer, other):
                raise RuntimeError(f"{label}: allowed PUT /employees/emp-001/status to alice")
            kept[label] = [None] * len(events)
            calls[label] = _kept(authorizer, events, kept[label])
        # Measured alternating ours and Cedarling's (sample only, then N more), so that every
        # row's slice follows the other's: the first calls after a different workload run up
        # to 2x slower (caches; a 1 ms sleep does it too), ~10% on the median of a slice, and
        # this way each row pays it alike. Printed ours first.
        ours_labels, their_labels = list(calls), list(theirs)
        order = [ours_labels[0], their_labels[0], ours_labels[1], their_labels[1]]
        note = f"{iterations} calls a row, in turns; every decision checked"
        measured = measure_together({label: {**calls, **theirs}[label] for label in order},
                                    iterations, notes=dict.fromkeys(order, note))  # fmt: skip
        rows = [measured[0], measured[2], measured[1], measured[3]]
    for label, answers in kept.items():
        extra = 0 if label == OURS_SAMPLE_ONLY else policies
        decided = [(t, a) for t, a in zip(tokens, answers, strict=True) if a is not None]
        if len(decided) < iterations:
            raise RuntimeError(f"{label}: {len(decided)} answers kept for {iterations} calls")
        for token, answer in decided:
            if policy_allows(answer, arn) != peer.same_action_expected(token, extra):
                raise RuntimeError(f"{label}: a timed call decided against the policies")
    return rows


def check(label: str, value: float, target: str, ok: bool) -> str:
    return f"  {label:<58} {value:7.2f}x  target {target:<6} {'met' if ok else 'missed'}"


def main() -> int:
    issuer = ours.new_issuer()
    print(f"cedar-authz benchmark: {ITERATIONS} calls per row; medians and p99 in microseconds\n")
    rows = main_rows(issuer)
    print(table(rows))
    same = same_action_rows(issuer, SAME_ACTION_ITERATIONS)
    if same:
        more = f"{SAME_ACTION_POLICIES:,} more policies (BENCH_SAME_ACTION_POLICIES)"
        print(f"\nsame-action: {more} on GET /employees, for other users and groups; "
              f"{SAME_ACTION_ITERATIONS} calls a row (BENCH_ITERATIONS, at most 300: "
              "Cedarling's call with 10,000 takes ~40 ms)")  # fmt: skip
        print(table(same))

    by = {r.label: r.median_us for r in rows + same}
    url, server = serve_jwks(issuer.jwks())
    print(f"\npolicy count: {bench_policies.SMALL} against {bench_policies.LARGE:,} policies "
          "(BENCH_POLICIES) in four generated layouts (bench/policy_layouts.py)")  # fmt: skip
    counted = bench_policies.run(issuer, url, ITERATIONS)
    print(bench_policies.report(counted))

    print("\ncold start: fresh interpreters, time after interpreter start-up and the Lambda "
          f"runtime's imports (bench/cold_start.py), median of {COLD_START_ROUNDS}")  # fmt: skip
    event = ours.event(ours.alice_tokens(issuer, 1)[0], *ours.RECORD)
    env = environment({**os.environ, **ours.sample_environment(issuer, url)}, event)
    cold = cold_start(env)
    server.shutdown()
    print(f"  import cedarpy + PyJWT (the issue's baseline)   {cold.bare / 1000:8.1f} ms")
    print(f"  import cedarpy + cryptography's primitives + urllib (what ours imports of others', "
          f"no PyJWT) {cold.needed / 1000:8.1f} ms")  # fmt: skip
    print(f"  import + initialise + first decision (ours)     {cold.first / 1000:8.1f} ms")
    print(f"  the same, no compiled policy store              {cold.uncompiled / 1000:8.1f} ms")
    print(
        f"  ratios (median of the rounds): {cold.ratio:.2f}x; {cold.uncompiled_ratio:.2f}x no store"
    )
    print(f"  the same ratio from a bare interpreter (nothing imported before): "
          f"{cold.plain_ratio:.2f}x")  # fmt: skip
    print(f"  ours against the imports it needs (no target: what its own code costs at start): "
          f"{cold.needed_ratio:.2f}x")  # fmt: skip
    far_url, far = serve_jwks(issuer.jwks(), ISSUER_AWAY_MS / 1000)
    ahead, on_request = key_sets_fetched_ahead({**env, **ours.sample_environment(issuer, far_url)})
    far.shutdown()
    print(f"  the key-set endpoint {ISSUER_AWAY_MS} ms away: first decision {ahead / 1000:.1f} ms "
          f"with the key set fetched while loading (the handler), {on_request / 1000:.1f} ms "
          "fetched on the first request")  # fmt: skip

    print("\nmemory: callers x entity store size (a fresh interpreter)")
    grown = memory.measure()
    print(memory.describe(grown))
    for label, seconds, grown_mb in memory.store_loads():
        print(f"  loading that entity file, {label}: {seconds:.2f} s, RSS +{grown_mb:.0f} MB")

    print(f"\nthe cyclic collector: {bench_collector.USERS:,} new users' fresh tokens, record "
          "route, each arm a fresh interpreter (no target: the tail it removes)")  # fmt: skip
    print(bench_collector.describe(bench_collector.run()))

    print("\npre-token-generation hook")
    hook = [Row(label, median, p99) for label, median, p99 in bench_pre_token_hook.run()]
    print(table(hook))

    print("\nentity stores: paula reads emp-001's salary, decision cache off")
    print(table([Row(label, median, p99) for label, median, p99 in bench_store.run()]))

    print("\ntoken revocation (REVOCATION_TABLE): the check alone, per request")
    print(table([Row(label, median, p99) for label, median, p99 in bench_revocation.run()]))

    print("\npolicy bundles (CEDAR_POLICY_BUNDLE): refresh checks, a swap, a repeated request")
    bundles = bench_bundles.run()
    print(table([Row(label, median, p99) for label, median, p99 in bundles]))
    by.update({label: median for label, median, _ in bundles})

    print("\nbackends: batch forms against the same number of single decisions")
    backend = [Row(label, median, p99) for label, median, p99 in bench_backend.run(ITERATIONS // 4)]
    print(table(backend))
    by.update({r.label: r.median_us for r in backend})

    ratios = {
        **ours.targets(by),
        f"RSS growth, {grown.users:,} users, {grown.file_mb:.0f} MB entity file / 100 MB": (
            grown.growth / memory.TARGET_MB,
            "< 1",
        ),
        **counted.ratios,
        "cold start / bare imports (median of each round's ratio)": (cold.ratio, "<= 1.2"),
        "repeated request through a bundle / packaged folder": (
            by[bench_bundles.BUNDLE_HIT] / by[bench_bundles.FOLDER_HIT],
            "<= 1.1",
        ),
    }
    if CEDARLING in by:
        ratios["Cedarling / ours, same tokens: one user, new token each call"] = (
            by[CEDARLING] / by[OURS_RETURNING],
            ">= 4",
        )
        ratios["Cedarling / ours, same tokens: new user each call"] = (
            by[CEDARLING_NEW_USER] / by[OURS_NEW_USER],
            ">= 2",
        )
    if same:
        ratios[f"{SAME_ACTION_POLICIES:,} same-action policies: Cedarling / ours"] = (
            by[CEDARLING_SAME_ACTION.format(SAME_ACTION_POLICIES)]
            / by[ours_same_action_label(SAME_ACTION_POLICIES)],
            ">= 20",
        )
    print("\nbackend batch forms as ratios to the single calls (no target set)")
    for batch, single in [(bench_backend.ACTIONS_BATCH, bench_backend.ACTIONS_SINGLE),
                          (bench_backend.REDACT_BATCH, bench_backend.REDACT_SINGLE)]:  # fmt: skip
        print(f"  {batch} / singles: {by[batch] / by[single]:.2f}x")
    print(
        "\nthe lean row (bench/lean.py) as ratios: what any complete Python authorizer pays "
        "over the floor, and what our generality costs over it (no target set)"
    )
    print(f"  lean / floor, record route: {by[LEAN] / by[ours.FLOOR]:.2f}x")
    print(
        f"  handler, fresh token, new user, record route / lean: {by[ours.FRESH] / by[LEAN]:.2f}x"
    )
    print("\ntargets (ratios of medians from this run)")
    for label, (value, target) in ratios.items():
        bound = float(target.split()[1])
        print(check(label, value, target, value <= bound if target[0] == "<" else value >= bound))
    return 0


if __name__ == "__main__":
    sys.exit(main())
