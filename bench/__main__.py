"""`make bench`: every figure below is measured in this run, on this machine, on the same tokens
and policies; targets are checked as ratios between rows of the same run (machines are noisy)."""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import authorizer_bench as ours
from bench.cold_start import cold_start, environment
from bench.timing import Row, table

ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "2000"))
COUNTS = [10, 100, 1_000, 10_000]


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


def ratio(rows: dict[str, Row], a: str, b: str) -> float:
    return rows[a].median_us / rows[b].median_us


def check(label: str, value: float, target: str, ok: bool) -> str:
    return f"  {label:<58} {value:7.2f}x  target {target:<8} {'ok' if ok else 'MISSED'}"


def main() -> int:
    issuer = ours.new_issuer()
    print(
        f"cedar-authz benchmark: {ITERATIONS} iterations per row, medians and p99 in microseconds\n"
    )
    rows = ours.handler_rows(issuer, ITERATIONS) + ours.baseline_rows(issuer, ITERATIONS)
    try:
        from bench import cedarling_peer

        tokens = ours.alice_tokens(issuer, ITERATIONS + 100)
        for label, (median, p99) in cedarling_peer.measure(
            tokens, issuer.issuer, issuer.jwks(), ITERATIONS
        ).items():
            rows.append(Row(label, median, p99))
    except ImportError as error:
        print(f"(Cedarling rows skipped: {error}; `make bench` installs cedarling-python)\n")
    print(table(rows))
    by = {r.label: r for r in rows}

    print("\npolicy-count scaling (one policy relevant to the action; the handler, token cached)")
    scaling = ours.scaling_rows(issuer, COUNTS, max(200, ITERATIONS // 4))
    print(table(scaling))
    by.update({r.label: r for r in scaling})

    print("\ncold start (fresh interpreters; time after interpreter start-up)")
    url, server = serve_jwks(issuer.jwks())
    event = ours.event(ours.alice_tokens(issuer, 1)[0], *ours.RECORD)
    env = environment({**os.environ, **ours.sample_environment(issuer, url)}, event)
    bare, first = cold_start(env)
    server.shutdown()
    print(f"  import cedarpy + PyJWT:                       {bare / 1000:8.1f} ms")
    print(f"  import + initialise + first decision (ours):  {first / 1000:8.1f} ms")

    try:
        from bench import bench_pre_token_hook

        print("\npre-token-generation hook")
        print(table([Row(label, median, p99) for label, median, p99 in bench_pre_token_hook.run()]))
    except ImportError as error:
        print(f"(pre-token hook rows skipped: {error})")

    fresh = "handler: fresh token (no cache)"
    print("\ntargets (ratios of medians from this run)")
    lines = [
        check(
            "fresh-token decision / (PyJWT decode + cedarpy handles)",
            ratio(by, fresh, "baseline: PyJWT decode + cedarpy handles"),
            "<= 1.3",
            ratio(by, fresh, "baseline: PyJWT decode + cedarpy handles") <= 1.3,
        ),  # fmt: skip
        check(
            "decision-cache hit / fresh-token decision",
            ratio(by, "handler: repeated request", fresh),
            "<= 0.1",
            ratio(by, "handler: repeated request", fresh) <= 0.1,
        ),  # fmt: skip
        check(
            "10,000 policies / 10 policies (indexed)",
            ratio(by, " 10000 policies, indexed", "    10 policies, indexed"),
            "<= 2",
            ratio(by, " 10000 policies, indexed", "    10 policies, indexed") <= 2,
        ),  # fmt: skip
        check("cold start / bare imports", first / bare, "<= 1.3", first / bare <= 1.3),
    ]
    cedarling = "cedarling signed, new token each call"
    if cedarling in by:
        lines.append(check("Cedarling signed / fresh-token decision", ratio(by, cedarling, fresh), ">= 3",
                           ratio(by, cedarling, fresh) >= 3))  # fmt: skip
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
