"""`make bench`: every figure is measured in this run, on this machine, on the same tokens and
policies; targets are checked as ratios between rows of the same run (machines are noisy)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import authorizer_bench as ours
from bench import (
    bench_backend,
    bench_bundles,
    bench_policies,
    bench_pre_token_hook,
    bench_revocation,
    bench_store,
    memory,
)
from bench.cold_start import cold_start, environment
from bench.timing import Row, measure_together, table

ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000"))
CEDARLING = "cedarling signed, new token each call"
CEDARLING_NEW_USER = "cedarling signed, new user each call"
OURS_RETURNING = "handler on Cedarling's tokens: one user, new token each call"
OURS_NEW_USER = "handler on Cedarling's tokens: new user each call"


def serve_jwks(document: dict[str, object]) -> tuple[str, ThreadingHTTPServer]:
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", server


def main_rows(issuer: ours.LocalIssuer) -> list[Row]:
    """The handler, the floor and baselines, Cedarling, and our handler on Cedarling's very
    tokens (GET /employees, a new token each call: one user's refreshed tokens, and a new user
    each call), all measured in turns so that their ratios hold on a noisy machine."""
    calls = {**ours.handler_calls(issuer, ITERATIONS), **ours.baseline_calls(issuer, ITERATIONS)}
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
        notes = {**ours.HANDLER_NOTES, **ours.BASELINE_NOTES}
        return measure_together(calls, ITERATIONS, notes=notes)


def check(label: str, value: float, target: str, ok: bool) -> str:
    return f"  {label:<58} {value:7.2f}x  target {target:<6} {'met' if ok else 'missed'}"


def main() -> int:
    issuer = ours.new_issuer()
    print(f"cedar-authz benchmark: {ITERATIONS} calls per row; medians and p99 in microseconds\n")
    rows = main_rows(issuer)
    print(table(rows))

    by = {r.label: r.median_us for r in rows}
    url, server = serve_jwks(issuer.jwks())
    print(f"\npolicy count: {bench_policies.SMALL} against {bench_policies.LARGE:,} policies "
          "(BENCH_POLICIES) in four generated layouts (bench/policy_layouts.py)")  # fmt: skip
    counted = bench_policies.run(issuer, url, ITERATIONS)
    print(bench_policies.report(counted))

    print("\ncold start: fresh interpreters, time after interpreter start-up, median of 11")
    event = ours.event(ours.alice_tokens(issuer, 1)[0], *ours.RECORD)
    env = environment({**os.environ, **ours.sample_environment(issuer, url)}, event)
    cold = cold_start(env)
    server.shutdown()
    print(f"  import cedarpy + PyJWT                          {cold.bare / 1000:8.1f} ms")
    print(f"  import + initialise + first decision (ours)     {cold.first / 1000:8.1f} ms")
    print(f"  the same, no compiled policy store              {cold.uncompiled / 1000:8.1f} ms")
    print(
        f"  ratios (median of the rounds): {cold.ratio:.2f}x; {cold.uncompiled_ratio:.2f}x no store"
    )

    print("\nmemory: callers x entity store size (a fresh interpreter)")
    grown = memory.measure()
    print(memory.describe(grown))

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
            ">= 3",
        )
        ratios["Cedarling / ours, same tokens: new user each call"] = (
            by[CEDARLING_NEW_USER] / by[OURS_NEW_USER],
            ">= 3",
        )
    print("\nbackend batch forms as ratios to the single calls (no target set)")
    for batch, single in [(bench_backend.ACTIONS_BATCH, bench_backend.ACTIONS_SINGLE),
                          (bench_backend.REDACT_BATCH, bench_backend.REDACT_SINGLE)]:  # fmt: skip
        print(f"  {batch} / singles: {by[batch] / by[single]:.2f}x")
    print("\ntargets (ratios of medians from this run)")
    for label, (value, target) in ratios.items():
        bound = float(target.split()[1])
        print(check(label, value, target, value <= bound if target[0] == "<" else value >= bound))
    return 0


if __name__ == "__main__":
    sys.exit(main())
