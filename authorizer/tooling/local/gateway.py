"""A local API Gateway for the sample application: `cedar-authz serve`.

For every route of the authorizer's route table it builds the event API Gateway would send (REST
REQUEST, or HTTP API payload 2.0), runs the real handler in process, caches its answer like API
Gateway's authorizer cache and honours it: 401, 403 with API Gateway's own texts, 500, or the
sample backend's answer. It also serves the local issuer (discovery, JWKS, token endpoint); the
authorizer fetches that JWKS over real HTTP from this same server.

The decisions (event building, ARN matching, verdicts, cache keys) are pure functions at the top;
the aiohttp handlers below them only move bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from aiohttp import web
from cachetools import TTLCache

from authorizer.gateway.response import MalformedAnswer, Outcome, policy_outcome
from authorizer.sdk.client import Authorizer
from authorizer.telemetry import Telemetry
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.keys import (
    JWKS_PATH,
    TOKEN_PATH,
    discovery,
    local_issuer,
    state_dir,
    token_answer,
)
from authorizer.tooling.local.sample import ROOT, sample_environment
from authorizer.tooling.local.sample_backend import BackendRequest, SampleBackend

Clock = Callable[[], float]
Pairs = Sequence[tuple[str, str]]
CacheKeying = Literal["request", "token"]
Failure = Literal["unauthorized", "deny", "implicit-deny", "error", "not-found"]
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class GatewayOptions:
    http_api: bool = False  # HTTP API payload 2.0 instead of REST REQUEST
    cache_ttl: float = 300.0  # seconds an authorizer answer is reused; 0 disables the cache
    # Identity sources: "request" = Authorization + method + path + query + source IP (decisions
    # here depend on all of them); "token" = the Authorization header alone (a cached policy must
    # then list every route it allows, or other routes get 403, as on API Gateway).
    cache_key: CacheKeying = "request"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    authorizer: dict[str, Any]  # what the backend sees as requestContext.authorizer


# --- pure: requests in ----------------------------------------------------------------------


def client_ip(peer: str | None, forwarded_for: str | None) -> str:
    """The caller's address: the peer, or X-Forwarded-For's first entry when the peer is on
    loopback (so a local test can pose as the corporate network)."""
    address = peer or "127.0.0.1"
    if forwarded_for and _is_loopback(address):
        first = forwarded_for.split(",")[0].strip()
        if _is_ip(first):
            return first
    return address


def build_event(
    http_api: bool,
    method: str,
    path: str,
    template: str,
    headers: Pairs,
    query: Pairs,
    raw_query: str,
    source_ip: str,
    now_ms: int,
) -> dict[str, Any]:
    """The authorizer event of one request, with every header and query value it carried."""
    if http_api:  # lower-cased names, duplicates comma-joined
        lowered = [(name.lower(), value) for name, value in headers]
        event = apigw.http_v2_event(
            method, path, template, _joined(lowered), _joined(query), source_ip, now_ms
        )
        event["rawQueryString"] = raw_query
        return event
    event = apigw.rest_request_event(
        method, path, template, dict(headers), dict(query), source_ip, now_ms
    )
    event["multiValueHeaders"] = _grouped(headers)
    event["multiValueQueryStringParameters"] = _grouped(query) or None
    return event


def cache_key(
    keying: CacheKeying,
    authorization: str,
    method: str,
    path: str,
    raw_query: str,
    source_ip: str,
) -> tuple[str, ...]:
    if keying == "token":
        return (authorization,)
    return (authorization, method, path, raw_query, source_ip)


def loopback_base(host: str, port: int) -> str:
    """``http://host:port`` for the address a connection reached, or 127.0.0.1 on that port when
    it is not loopback (the authorizer fetches keys over http:// only from loopback)."""
    if not _is_loopback(host):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# --- pure: the authorizer's answer out -------------------------------------------------------


def verdict(answer: object, arn: str, http_api: bool) -> Verdict:
    if not isinstance(answer, Mapping):
        raise MalformedAnswer("the answer is not an object")
    context = _context(answer.get("context"))
    if http_api and "isAuthorized" in answer:  # HTTP API simple response
        if not isinstance(answer["isAuthorized"], bool):
            raise MalformedAnswer("isAuthorized is not a boolean")
        return Verdict("allow" if answer["isAuthorized"] else "deny", {"lambda": context})
    outcome = policy_outcome(answer.get("policyDocument"), arn)
    principal = answer.get("principalId")
    if not isinstance(principal, str):
        raise MalformedAnswer("principalId is missing")
    if http_api:
        return Verdict(outcome, {"lambda": context})
    return Verdict(outcome, {"principalId": principal, **context})


def failure(kind: Failure, http_api: bool) -> tuple[int, dict[str, Any]]:
    """API Gateway's own status and body for each way a request is refused."""
    if kind == "unauthorized":
        return 401, {"message": "Unauthorized"}
    if kind == "not-found":
        return 404, {"message": "Not Found"}
    if kind == "error":
        return 500, {"message": "Internal Server Error" if http_api else None}
    if http_api:
        return 403, {"message": "Forbidden"}
    text = "User is not authorized to access this resource"
    return 403, {"message": f"{text} with an explicit deny" if kind == "deny" else text}


def _context(value: object) -> dict[str, Any]:
    """API Gateway refuses context values that are objects or arrays."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedAnswer("context is not an object")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) and item is not None:
            raise MalformedAnswer(f"context value {key!r} is an object or an array")
    return dict(value)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_loopback(value: str) -> bool:
    return _is_ip(value) and ipaddress.ip_address(value).is_loopback


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name: ",".join(values) for name, values in _grouped(pairs).items()}


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


# --- I/O: the aiohttp application --------------------------------------------------------------


class Gateway:
    """One API with one authorizer function, which runs in a single worker thread (one warm
    Lambda container): its caches need no locks, and the event loop stays free to serve the
    JWKS the authorizer fetches from this same server."""

    def __init__(
        self,
        issuer: LocalIssuer,
        options: GatewayOptions,
        clock: Clock,
        backend: SampleBackend,
        jwks_url: str | None = None,
        log: TextIO | None = None,
    ) -> None:
        self.issuer, self.options, self.clock, self.backend = issuer, options, clock, backend
        self.jwks_url = jwks_url
        self.invocations = 0  # calls of the authorizer function (cache hits are not calls)
        self._log = log
        self._authorizer: Authorizer | None = None
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="authorizer")
        self._cache: TTLCache[tuple[str, ...], object] | None = None
        if options.cache_ttl > 0:
            self._cache = TTLCache(CACHE_SIZE, options.cache_ttl, timer=clock)

    async def start(self, base_url: str) -> Authorizer:
        """Cold start: load policies, schema and entities, pointing the JWKS URL at this server
        (unless one was given). Idempotent; the first request does it if ``serve`` did not."""
        async with self._lock:
            if self._authorizer is None:
                self.jwks_url = self.jwks_url or base_url + JWKS_PATH
                env = sample_environment(self.issuer, self.jwks_url)
                loop = asyncio.get_running_loop()
                self._authorizer = await loop.run_in_executor(self._executor, self._load, env)
                self.backend.authorizer = self._authorizer  # it checks again at the data layer
            return self._authorizer

    def _load(self, env: dict[str, str]) -> Authorizer:
        authorizer = Authorizer.from_env(env, clock=self.clock)
        authorizer.telemetry = Telemetry(stream=self._log or sys.stderr)
        return authorizer

    async def handle(self, request: web.Request) -> web.Response:
        authorizer = await self.start(_own_base(request))
        http_api = self.options.http_api
        match = authorizer.routes.match(request.method, request.path)
        if match is None:
            return _refuse("not-found", http_api)
        authorization = ",".join(request.headers.getall("Authorization", []))
        if not authorization.strip():  # a missing identity source: 401, the function not called
            return _refuse("unauthorized", http_api)
        source_ip = client_ip(request.remote, request.headers.get("X-Forwarded-For"))
        raw_query = request.query_string
        event = build_event(
            http_api,
            request.method,
            request.path,
            match.route.template,
            list(request.headers.items()),
            list(request.query.items()),
            raw_query,
            source_ip,
            int(self.clock() * 1000),
        )
        arn = str(event.get("methodArn") or event["routeArn"])
        key = cache_key(
            self.options.cache_key, authorization, request.method, request.path, raw_query,
            source_ip,
        )  # fmt: skip
        answer = self._cache.get(key) if self._cache is not None else None
        fresh = answer is None
        if answer is None:
            self.invocations += 1
            loop = asyncio.get_running_loop()
            try:
                answer = await loop.run_in_executor(self._executor, authorizer.handle, event)
            except Exception as error:  # what API Gateway makes of a failed invocation
                unauthorized = str(error) == "Unauthorized"
                return _refuse("unauthorized" if unauthorized else "error", http_api)
        try:
            result = verdict(answer, arn, http_api)
        except MalformedAnswer as error:
            print(f"cedar-authz serve: malformed authorizer answer: {error}", file=sys.stderr)
            return _refuse("error", http_api)
        if fresh and self._cache is not None:
            self._cache[key] = answer
        if result.outcome != "allow":
            return _refuse(result.outcome, http_api)
        backend_request = BackendRequest(
            method=request.method,
            route=match.route.template,
            path_parameters=dict(match.path_parameters),
            query=dict(request.query.items()),
            body=await _json_body(request),
            authorizer=result.authorizer,
            authorization=authorization,
            path=request.path,
            source_ip=source_ip,
            time=self.clock(),
        )
        # In the authorizer's thread: the backend asks the same Authorizer (its caches).
        loop = asyncio.get_running_loop()
        status, body = await loop.run_in_executor(
            self._executor, self.backend.handle, backend_request
        )
        return web.json_response(body, status=status)

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(discovery(self.issuer, str(request.url.origin())))

    async def jwks(self, _request: web.Request) -> web.Response:
        return web.json_response(self.issuer.jwks())

    async def token(self, request: web.Request) -> web.Response:
        status, body = token_answer(self.issuer, await request.post(), self.clock())
        return web.json_response(body, status=status)

    async def close(self, _app: web.Application) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


GATEWAY = web.AppKey("gateway", Gateway)


def make_app(
    options: GatewayOptions | None = None,
    *,
    home: Path | None = None,
    issuer: LocalIssuer | None = None,
    clock: Clock = time.time,
    jwks_url: str | None = None,
    log: TextIO | None = None,
) -> web.Application:
    """The local gateway. ``home``: the state directory holding the shared signing key (default
    ``CEDAR_AUTHZ_HOME`` or ~/.cedar-authz); ``jwks_url``: where the authorizer fetches keys
    (default: this server); ``log``: the decision log (default stderr)."""
    issuer = issuer or local_issuer(home or state_dir())
    backend = SampleBackend.load(ROOT / "entities" / "corp.json")
    gateway = Gateway(issuer, options or GatewayOptions(), clock, backend, jwks_url, log)
    app = web.Application()
    app[GATEWAY] = gateway
    app.router.add_get("/.well-known/openid-configuration", gateway.discovery)
    app.router.add_get(JWKS_PATH, gateway.jwks)
    app.router.add_post(TOKEN_PATH, gateway.token)
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    app.on_cleanup.append(gateway.close)
    return app


def _own_base(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return loopback_base(str(sockname[0]), int(sockname[1]))
    return str(request.url.origin())


def _refuse(kind: Failure, http_api: bool) -> web.Response:
    status, body = failure(kind, http_api)
    return web.json_response(body, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read())
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
