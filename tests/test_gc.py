"""The request path makes no reference cycles, on every outcome: the Lambda entry point can make
the cyclic collector's full passes rare (``handler.quiet_collector``) without garbage piling up."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from authorizer import handler
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock
from tests.helpers import outcome, rest, user_token

ROUTES = [
    ("GET", "/employees/emp-001", "/employees/{employeeId}"),  # a record route
    ("GET", "/employees", "/employees"),  # a token-level route
    ("POST", "/payments", "/payments"),
    ("GET", "/nowhere", "/nowhere"),  # no route
]


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def events(issuer: LocalIssuer, now: float, tag: str = "") -> list[dict[str, Any]]:
    """New users, returning users, denied users, forged and missing tokens, on every route."""
    found = []
    for n, route in enumerate(ROUTES):
        for name in ("alice", "fiona", "paula"):
            fresh = issuer.token(f"{name}-{n}{tag}", now=now, groups=["engineering"])
            found += [rest(fresh, *route), rest(user_token(issuer, name, now), *route)]
            found.append(rest(fresh[:-6] + "AAAAAA", *route))  # a bad signature: 401
        found.append(rest(None, *route))  # no token: 401
        found.append(rest("not.a.jwt", *route))
    return found


def test_no_request_leaves_cyclic_garbage(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, collector_off: None
) -> None:
    """After the first pass: the key set's fetch (urllib's opener) makes a few cycles, once per
    fetch, which die young (the young generations' passes are left as they are)."""
    every = events(issuer, clock.now)
    for event in every:
        outcome(authz, event)
    gc.collect()
    seen = set()
    for event in every + events(issuer, clock.now, "b"):  # cached; new users
        seen.add(outcome(authz, event))
    assert seen == {"Allow", "Deny", "401"}
    assert gc.collect() == 0  # nothing the request path left needed the cyclic collector


def test_the_lambda_entry_point_quiets_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    monkeypatch.setattr(handler, "_authorizer", None)
    monkeypatch.setattr(handler, "authorizer_from_env", lambda: built.append(1) or object())
    before = gc.get_threshold()
    try:
        handler.get_authorizer()
        handler.get_authorizer()
        assert built == [1]
        assert gc.get_threshold()[2] == handler.FULL_COLLECTION_AFTER
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
