"""The key sets fetched while the Lambda loads (authorizer/identity/prefetch.py): the first fetch
of each URL takes the body fetched ahead, once, when it succeeded and is recent; anything else
is fetched as without it. End to end: the Lambda's module starts the fetch at import, does not
wait for it, and its first request uses it (one request to the issuer in all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from authorizer.identity.fetch import http_fetch
from authorizer.identity.prefetch import MAX_AGE_S, KeySetsAhead, key_sets_ahead
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample import sample_environment
from tests.conftest import ROOT, FakeClock, JwksServer
from tests.helpers import rest, user_token

URL = "https://issuer.example/.well-known/jwks.json"
OTHER = "https://other.example/.well-known/jwks.json"


class Bodies:
    """A fetch answering b"1", b"2"... per call, or failing while ``fail`` is set."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.fail:
            raise OSError("unreachable")
        return str(len(self.calls)).encode()


def run_now(run: Callable[[], None]) -> None:
    run()


def test_the_first_fetch_takes_the_body_fetched_ahead_once() -> None:
    fetch, clock = Bodies(), FakeClock()
    ahead = KeySetsAhead([URL, URL], fetch=fetch, clock=clock, start=run_now)
    assert fetch.calls == [URL]  # one fetch per URL, started at once
    assert ahead.urls == (URL,)
    assert ahead(URL) == b"1"  # the body fetched ahead
    assert ahead.urls == ()
    assert ahead(URL) == b"2"  # later fetches are the fetch's own (a refresh, a new kid)
    assert ahead(OTHER) == b"3"
    assert fetch.calls == [URL, URL, OTHER]


def test_a_failed_fetch_ahead_is_fetched_again() -> None:
    fetch = Bodies()
    fetch.fail = True
    ahead = KeySetsAhead([URL], fetch=fetch, clock=FakeClock(), start=run_now)
    fetch.fail = False
    assert ahead(URL) == b"2"
    assert fetch.calls == [URL, URL]


def test_an_old_body_is_not_used() -> None:
    """A function initialised long before its first request fetches its keys then."""
    fetch, clock = Bodies(), FakeClock()
    ahead = KeySetsAhead([URL], fetch=fetch, clock=clock, start=run_now)
    clock.advance(MAX_AGE_S + 1)
    assert ahead(URL) == b"2"


def test_a_fetch_ahead_that_never_ends_is_not_waited_on_forever() -> None:
    fetch = Bodies()
    ahead = KeySetsAhead([URL], fetch=fetch, clock=FakeClock(), start=lambda _run: None, wait_s=0)
    assert ahead(URL) == b"1"  # never started: after waiting ``wait_s``, fetched


def test_the_settings_name_what_is_fetched_ahead(issuer: LocalIssuer) -> None:
    started: list[Callable[[], None]] = []
    env = sample_environment(issuer, URL)
    ahead = key_sets_ahead(env, start=started.append)
    assert isinstance(ahead, KeySetsAhead)
    assert ahead.urls == (URL,)
    assert len(started) == 1
    oidc = {"AUTH_ISSUER": "https://idp.example.com/realms/a", "AUTH_CLIENT_IDS": "c"}
    discovery = key_sets_ahead(oidc, start=started.append)
    assert isinstance(discovery, KeySetsAhead)
    assert discovery.urls == ("https://idp.example.com/realms/a/.well-known/openid-configuration",)
    # Settings that cannot be read: the plain fetch, and building the authorizer says why.
    assert key_sets_ahead({}, start=started.append) is http_fetch
    assert len(started) == 2


# --- end to end: the Lambda's module ------------------------------------------------------------


LAMBDA = """
import json, os, sys
from authorizer import handler
print("imported", flush=True)
sys.stdin.readline()
answer = handler.lambda_handler(json.loads(os.environ["EVENT"]), None)
print("effect", answer["policyDocument"]["Statement"][0]["Effect"], flush=True)
"""


def test_the_lambda_fetches_its_keys_while_it_loads(
    issuer: LocalIssuer, jwks_server: JwksServer
) -> None:
    event = rest(user_token(issuer, "alice", time.time()), "GET", "/employees/emp-001",
                 "/employees/{employeeId}")  # fmt: skip
    env = {**os.environ, **sample_environment(issuer, jwks_server.url),
           "EVENT": json.dumps(event), "PYTHONPATH": str(ROOT)}  # fmt: skip
    jwks_server.release = threading.Event()  # the issuer holds its answer until released
    child = subprocess.Popen(
        [sys.executable, "-c", LAMBDA], cwd=ROOT, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        # Loaded while the issuer still holds its answer: the fetch started, nothing waited on it.
        assert child.stdout.readline().strip() == "imported"
        assert jwks_server.arrived.wait(30)
        assert jwks_server.hits == 1
        jwks_server.release.set()
        child.stdin.write("\n")
        child.stdin.flush()
        lines = iter(child.stdout.readline, "")  # the decision's log line comes first
        assert next(line for line in lines if line.startswith("effect ")).split() == [
            "effect",
            "Allow",
        ]
        assert child.wait(60) == 0
    finally:
        jwks_server.release.set()
        child.kill()
        child.wait()
    assert jwks_server.hits == 1  # the first request's keys were the ones fetched ahead
