"""An authorizer shared by threads, as a backend's may be (a threaded web server, a thread pool
for the middleware's guard): no call fails because another thread touched a cache meanwhile,
and every decision is the one a lone thread gets.

Races are forced by switching threads after every few byte codes (``sys.setswitchinterval``);
before stop 18 these tests failed on every run: KeyErrors from the request path's caches,
RuntimeErrors from cachetools' caches behind per-tenant bundles, and a tenant's bundle still
loading served as "no good bundle" (a 500).
"""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from authorizer.sdk.client import Authorizer as Backend
from authorizer.stores.ttl_cache import ExpiringCache, Lru
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.test_live_bundles import TENANTS, doc_policy, shop_bundle, shop_env

THREADS = 4
OPERATIONS = 20_000  # per thread: fewer, and the old caches' races did not always show


@pytest.fixture
def switching_often() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def in_threads(work: Callable[[int], None]) -> list[str]:
    """``work(n)`` on each of ``THREADS`` threads; what any of them raised."""
    failures: list[str] = []

    def run(n: int) -> None:
        try:
            work(n)
        except Exception as error:  # every failure is the finding
            failures.append(repr(error))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_the_request_paths_caches_take_concurrent_gets_and_puts(switching_often: None) -> None:
    clock = [0.0]
    expiring: ExpiringCache[int, int] = ExpiringCache(8, timer=lambda: clock[0])
    plain: Lru[int, int] = Lru(8)
    weighed: Lru[int, int] = Lru(8, weigh=lambda value: value % 3 + 1)

    def work(seed: int) -> None:
        pick = random.Random(seed)
        for i in range(OPERATIONS):
            key = pick.randrange(16)
            if pick.random() < 0.5:
                expiring.put(key, i, clock[0] + pick.choice((0.5, 2.0)))
                plain.put(key, i)
                weighed.put(key, i)
            else:
                expiring.get(key)
                plain.get(key)
                weighed.get(key)
            if seed == 0 and i % 50 == 0:
                clock[0] += 1.0  # entries expire while others read them

    assert in_threads(work) == []
    assert len(plain) <= 8 + THREADS and len(expiring) <= 8 + THREADS
    # The weights' total follows the entries, so the cache keeps what fits.
    held = [weighed.get(key) for key in range(16)]
    total = sum(value % 3 + 1 for value in held if value is not None)
    assert 0 < total <= 8


def test_a_backend_shared_by_threads_decides_each_tenant_as_one_thread_does(
    tmp_path: Path,
    issuer: LocalIssuer,
    jwks_server: JwksServer,
    clock: FakeClock,
    switching_often: None,
) -> None:
    for tenant in TENANTS[:2]:
        (tmp_path / f"{tenant}.json").write_bytes(shop_bundle(doc_policy(tenant)))
    env = {**shop_env(issuer, jwks_server, str(tmp_path / "{tenant}.json")),
           "CEDAR_TENANT_CLAIM": "tenant"}  # fmt: skip
    backend = Backend.from_env(env, clock=clock)
    tenants = TENANTS[:2]
    tokens = [[issuer.token(f"u{n}-{i}", extra={"tenant": tenants[i % 2]}, now=clock())
               for i in range(120)] for n in range(THREADS)]  # fmt: skip
    decided: list[Counter[tuple[str, bool]]] = [Counter() for _ in range(THREADS)]

    def work(n: int) -> None:
        for i, token in enumerate(tokens[n]):
            decision = backend.authorize_token(
                token, "get /docs/{docId}", {"type": "Shop::Doc", "id": f"{tenants[0]}-doc"}
            )
            decided[n][(tenants[i % 2], decision.allowed)] += 1  # each thread its own

    assert in_threads(work) == []
    # Each tenant's own bundle decided: the first tenant's document, its users only.
    half = THREADS * 60
    assert sum(decided, Counter()) == {(tenants[0], True): half, (tenants[1], False): half}
