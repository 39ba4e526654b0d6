"""The middleware and a slow issuer, over real HTTP on loopback: a key-set fetch never blocks the
event loop (nor the guard's one executor thread), requests whose key is held are answered while
it runs, and every request that needs it shares the one fetch."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authorizer.identity.jwks import JwksCache
from authorizer.pdp import Authorizer
from authorizer.sdk.middleware import require
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock, sample_env
from tests.helpers import user_token
from tests.test_backend_api import BY_ID
from tests.test_jwks_hardening import LoopbackServer
from tests.test_middleware import call, guarded_app

Client = TestClient[Any, Any]
AiohttpClient = Callable[..., Awaitable[Client]]
PATH = "/thing/emp-001"  # alice may read it (employees-read)
WAIT_S = 10.0  # generous: only reached when something is wrong


class SlowJwks:
    """Serves ``document``; while ``release`` is clear each fetch is held until it is set.
    ``fetching`` is set when a fetch reaches the server."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.release = threading.Event()
        self.release.set()
        self.fetching = threading.Event()
        self.server = LoopbackServer(self._respond)

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        self.fetching.set()
        self.release.wait(WAIT_S)
        body = json.dumps(self.document).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def hold(self) -> None:
        self.fetching.clear()
        self.release.clear()


@pytest.fixture
def slow(issuer: LocalIssuer) -> Iterator[SlowJwks]:
    server = SlowJwks(issuer.jwks())
    yield server
    server.release.set()  # let any held handler finish
    server.server.close()


@pytest.fixture(params=["on the loop", "one executor thread"])
def executor(request: pytest.FixtureRequest) -> Iterator[ThreadPoolExecutor | None]:
    pool = ThreadPoolExecutor(max_workers=1) if request.param == "one executor thread" else None
    yield pool
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def ok(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def client_for(
    aiohttp_client: AiohttpClient, authz: Authorizer, executor: ThreadPoolExecutor | None
) -> Client:
    handler = require("get /employees/{employeeId}",
                      resource=lambda r: BY_ID.get(r.match_info["employeeId"]))(ok)  # fmt: skip
    return await aiohttp_client(guarded_app(authz, handler, executor=executor))


async def fetch_reached(slow: SlowJwks) -> None:
    assert await asyncio.to_thread(slow.fetching.wait, WAIT_S), "no fetch reached the server"


@pytest.mark.asyncio
async def test_a_slow_fetch_holds_only_the_requests_that_need_it(
    aiohttp_client: AiohttpClient, issuer: LocalIssuer, clock: FakeClock, slow: SlowJwks,
    executor: ThreadPoolExecutor | None,
) -> None:  # fmt: skip
    """Before, the request with the new kid fetched inline (on the loop, or in the guard's one
    thread): every other request waited for the issuer."""
    authz = Authorizer.from_env(sample_env(issuer, slow.server.url), clock=clock)
    client = await client_for(aiohttp_client, authz, executor)
    cached = user_token(issuer, "alice", clock.now)
    assert (await call(client, "GET", PATH, cached))[0] == 200  # the key set is loaded
    rotated = SigningKey.rsa("rotated-in")
    slow.document = {"keys": [*issuer.jwks()["keys"], rotated.public_jwk()]}
    slow.hold()
    clock.advance(11)  # past the cooldown of the first load
    newcomer = LocalIssuer(issuer.issuer, issuer.client_id, keys=[rotated])
    waiting = [
        asyncio.create_task(call(client, "GET", PATH, user_token(newcomer, "alice", clock.now)))
        for _ in range(5)
    ]
    await fetch_reached(slow)
    # While the issuer holds that fetch: a new token with a held kid, and a verified one.
    fresh = user_token(issuer, "alice", clock.now)
    for token in (fresh, cached):
        assert (await asyncio.wait_for(call(client, "GET", PATH, token), WAIT_S))[0] == 200
    assert not any(task.done() for task in waiting)
    slow.release.set()
    assert [status for status, _ in await asyncio.gather(*waiting)] == [200] * 5
    assert slow.server.hits == 2  # the first load, and one fetch for all five newcomers


@pytest.mark.asyncio
async def test_a_cold_start_makes_one_fetch_for_every_waiting_request(
    aiohttp_client: AiohttpClient, issuer: LocalIssuer, clock: FakeClock, slow: SlowJwks,
    executor: ThreadPoolExecutor | None,
) -> None:  # fmt: skip
    authz = Authorizer.from_env(sample_env(issuer, slow.server.url), clock=clock)
    client = await client_for(aiohttp_client, authz, executor)
    slow.hold()
    tokens = [user_token(issuer, "alice", clock.now) for _ in range(10)]
    waiting = [asyncio.create_task(call(client, "GET", PATH, token)) for token in tokens]
    await fetch_reached(slow)
    waiting[0].cancel()  # a client that gives up does not cancel the fetch the others await
    slow.release.set()
    results = await asyncio.gather(*waiting[1:])
    assert [status for status, _ in results] == [200] * 9
    assert slow.server.hits == 1


@pytest.mark.asyncio
async def test_keys_past_max_age_are_refreshed_behind_the_requests(
    aiohttp_client: AiohttpClient, issuer: LocalIssuer, clock: FakeClock, slow: SlowJwks,
    executor: ThreadPoolExecutor | None,
) -> None:  # fmt: skip
    """A held kid is served from the held keys while their hourly refresh runs; before, the
    request that found them old fetched inline and held the others."""
    authz = Authorizer.from_env(sample_env(issuer, slow.server.url), clock=clock)
    client = await client_for(aiohttp_client, authz, executor)
    assert (await call(client, "GET", PATH, user_token(issuer, "alice", clock.now)))[0] == 200
    slow.hold()
    clock.advance(3601)
    for _ in range(3):
        token = user_token(issuer, "alice", clock.now)
        assert (await asyncio.wait_for(call(client, "GET", PATH, token), WAIT_S))[0] == 200
    await fetch_reached(slow)
    refresh = authz.keys.pending("a-kid-nobody-holds")  # the refresh is still under way
    assert refresh is not None and not refresh.done()
    assert authz.keys.failures == 0  # answered from the held keys, not after a fetch timed out
    slow.release.set()
    await asyncio.wait_for(asyncio.wrap_future(refresh), WAIT_S)
    assert (authz.keys.fetches, authz.keys.failures, slow.server.hits) == (2, 0, 2)


def test_a_held_kid_does_not_wait_for_a_fetch_under_way(clock: FakeClock) -> None:
    """The cache itself: a thread needing a held key never waits on another's fetch; one
    needing the fetch waits for that one fetch, not a second."""
    entered, release = threading.Event(), threading.Event()
    first = SigningKey.rsa("first").public_jwk()
    documents = [{"keys": [first]}]

    def fetch(_url: str) -> bytes:
        if len(documents) > 1:
            entered.set()
            release.wait(WAIT_S)
        return json.dumps(documents[-1]).encode()

    keys = JwksCache("https://issuer.example/jwks", fetch=fetch, clock=clock, max_age=60)
    keys.key("first", "RS256")
    documents.append({"keys": [first, SigningKey.rsa("second").public_jwk()]})
    clock.advance(61)
    fetcher = threading.Thread(target=keys.key, args=("first", "RS256"))
    fetcher.start()  # finds the keys old: fetches, and is held
    assert entered.wait(WAIT_S)
    assert keys.key("first", "RS256").kid == "first"  # answered while it is held
    flight = keys.pending("second")
    assert flight is not None and not flight.done()
    release.set()
    flight.result(WAIT_S)
    fetcher.join(WAIT_S)
    assert keys.key("second", "RS256").kid == "second"
    assert keys.fetches == 2
