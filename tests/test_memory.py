"""What the authorizer keeps per caller, cheaply checked: no caller holds an entities handle, so
memory does not grow with callers x the size of the entity store (bench/memory.py measures it:
10,000 users over an 11 MB file); and the request-path caches expire and stay bounded."""

from __future__ import annotations

import gc

import cedarpy

from authorizer.sdk.client import Authorizer
from authorizer.stores.ttl_cache import ExpiringCache, Lru
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import split_profile
from tests.conftest import FakeClock
from tests.helpers import outcome, rest, user_token


def live_handles() -> int:
    gc.collect()
    return sum(isinstance(o, cedarpy.Entities) for o in gc.get_objects())


def test_distinct_callers_hold_no_entities_handle(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Before: each cached caller kept the store plus its entities (a handle per distinct user,
    and an LRU of 4,096 more). Now the handles in memory do not grow with the callers: the only
    ones kept are the engine's bounded caches (here bounded at 8 request handles)."""
    path = ("GET", "/employees/emp-001", "/employees/{employeeId}")
    assert authz.engine.slices is not None
    authz.engine.slices._handles.maxsize = 8
    assert outcome(authz, rest(user_token(issuer, "alice", clock.now), *path)) == "Allow"
    before = live_handles()
    groups, profile = split_profile("alice")
    for n in range(60):
        token = issuer.token(f"alice-{n}", groups=groups, extra=profile, now=clock.now)
        assert outcome(authz, rest(token, *path)) == "Allow"
    assert live_handles() <= before + 8
    assert all(caller.entities is None for caller, _ in authz._tokens._data.values())


def test_an_expiring_cache_serves_until_the_time_given() -> None:
    clock = FakeClock(100.0)
    cache: ExpiringCache[str, int] = ExpiringCache(10, clock)
    cache.put("a", 1, until=110.0)
    cache.put("gone", 2, until=100.0)  # already expired: not kept
    assert cache.get("a") == 1 and cache.get("gone") is None and len(cache) == 1
    clock.advance(9.9)
    assert cache.get("a") == 1
    clock.advance(0.1)
    assert cache.get("a") is None and len(cache) == 0  # expired entries are dropped


def test_an_expiring_cache_drops_the_least_recently_used() -> None:
    clock = FakeClock(0.0)
    cache: ExpiringCache[str, int] = ExpiringCache(2, clock)
    cache.put("a", 1, 10.0)
    cache.put("b", 2, 10.0)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3, 10.0)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


def test_a_weighted_lru_holds_at_most_its_weight() -> None:
    """The engine's combined policy sets weigh their policies: many small sets or a few big."""
    cache: Lru[str, list[int]] = Lru(10, weigh=len)
    cache.put("a", [1] * 4)
    cache.put("b", [1] * 4)
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", [1] * 4)  # 12 > 10: the least recently used (b) goes
    assert (cache.get("a"), cache.get("b")) == ([1] * 4, None)
    cache.put("a", [1])  # replaced: its old weight is given back
    cache.put("d", [1] * 5)
    assert len(cache) == 3 and cache.get("c") is not None


def test_an_lru_drops_the_least_recently_used() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
