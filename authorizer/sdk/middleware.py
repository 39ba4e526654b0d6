"""aiohttp: a middleware that establishes who calls, and route decorators that enforce a Cedar
decision per endpoint with the resource the handler is about to serve.

    app = web.Application(middlewares=[cedar_middleware(Guard(authorizer))])

    @require('Corp::Action::"get /employees/{employeeId}"', resource=load_employee)
    async def employee(request):  # request[RESOURCE]: what load_employee returned
        return web.json_response(redact_for(request, document_of(request[RESOURCE])))

    @require_permission("invoices:view")  # the action Corp::Action::"invoices:view"
    async def invoices(request): ...

A provider is ``(request) -> entity dict, UID or None`` (sync or async); ``caller(request)`` and
``decision(request)`` give the handler who asked and why it was allowed.

Answers: 401 (no or invalid credentials), 404 (the provider found nothing), 403 (denied), 500
(the JWKS or entity store unreachable, or anything else failing while identifying or checking:
``errors.status_of``, logged with its traceback; never a decision), else the handler's.

The issuer's key set is fetched off the event loop (``Guard.keys_for``): a request whose token
names a key not held waits for the one fetch every such request shares, while requests whose
key is held go on.

Who calls. By default the ``Authorization: Bearer`` token is verified exactly as the gateway
does (same issuer, keys, clients, clock), and anything the request claims the gateway said is
ignored. With ``trust_gateway=True`` the authorizer context API Gateway forwards is believed:
its ``principalId`` names the principal, and the claims are those of the forwarded token, decoded
without checking its signature again (the gateway did; ``exp`` is still checked) and bound to
that principal. With no token forwarded it is a 401: the context alone does not carry the
caller's groups and claims, and a policy must not decide without them. Turn it
on only when nothing but the gateway can reach the backend (Lambda proxy integration, a private
integration), since a client that reaches it directly could claim to be anyone. The context is
read by ``gateway_context(request)``: by default ``request[GATEWAY_CONTEXT]`` (set by an
in-process adapter from ``requestContext.authorizer``) or the ``X-Authorizer-*`` headers an
HTTP integration maps it into (``X-Authorizer-Principal-Id`` -> ``principalId``).

``context.request`` is built from the request (method, path, route template, path and query
parameters, source address, time); ``context=`` adds what the handler knows, such as the amount
of a transfer read from the body.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

from authorizer.cedar.analysis import REQUEST_QUERY
from authorizer.cedar.coerce import datetime_value, ip_value
from authorizer.cedar.engine import Decision
from authorizer.errors import (
    BAD_REQUEST,
    UNAUTHORIZED,
    InvalidParameter,
    InvalidRequest,
    InvalidToken,
    Unauthorized,
    status_of,
)
from authorizer.gateway.events import canonical_path, client_address, credential
from authorizer.identity.tokens import (
    MAX_HEADER_LENGTH,
    MAX_KID_LENGTH,
    decode_unverified,
    numeric_date,
)
from authorizer.limits import INCOMPLETE_CLAIM
from authorizer.pdp import Authorizer
from authorizer.sdk import api, redaction
from authorizer.sdk.api import ActionLike, Subject

logger = logging.getLogger(__name__)
T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GatewayReader = Callable[[web.Request], Mapping[str, Any] | None]
AddressReader = Callable[[web.Request], str | None]
ResourceProvider = Callable[
    [web.Request], api.ResourceLike | Awaitable[api.ResourceLike | None] | None
]
ContextProvider = Callable[[web.Request], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

HEADER_PREFIX = "x-authorizer-"


# --- pure: who calls, what the request is ------------------------------------------------------


def bearer(authorization: str | None) -> str:
    """The token of exactly one ``Authorization`` value (``Bearer <jwt>`` or a bare JWT), by
    the gateway's own rule (``events.credential``)."""
    return credential((authorization,) if authorization else ())


def identify(
    authz: Authorizer,
    authorization: str | None,
    gateway: Mapping[str, Any] | None = None,
    trust_gateway: bool = False,
) -> Subject:
    """The caller. Raises ``Unauthorized`` (401) or ``DependencyError`` (JWKS unreachable)."""
    if trust_gateway and gateway:
        return _from_gateway(authz, gateway, authorization)
    # With policy bundles, ``verify`` is the one of the bundle deciding for the token's caller.
    return api.subject(authz, authz.verify(bearer(authorization)))


def _from_gateway(
    authz: Authorizer, gateway: Mapping[str, Any], authorization: str | None
) -> Subject:
    nested = gateway.get("lambda")  # an HTTP API's context sits under "lambda"
    context = nested if isinstance(nested, Mapping) else gateway
    principal_id = context.get("principalId") or context.get("principal")
    if not isinstance(principal_id, str) or not principal_id:
        raise InvalidRequest("no_principal", "the gateway context names no principal")
    if not authorization:
        # The context names the principal but not its groups or claims: rebuilt from it alone,
        # a caller's `forbid (principal in Group::"interns", ...)` would not hold, and any
        # `X-Authorizer-*` header a client added would pass for a claim.
        raise InvalidRequest(
            "missing_token",
            "trust_gateway decides with the token the gateway verified: forward the "
            "Authorization header (the gateway's context does not carry the caller's groups "
            "and claims)",
        )
    claims: Mapping[str, Any] = decode_unverified(bearer(authorization))[1]
    exp = numeric_date(claims, "exp", required=True)
    now, leeway = authz.clock(), authz.settings.leeway
    if exp is not None and exp <= now - leeway:
        raise InvalidToken("expired", "the token has expired")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("missing_claim", "sub is missing")
    if INCOMPLETE_CLAIM in claims:  # as the gateway's authorizer refuses it
        raise InvalidToken("incomplete_token", "the pre-token hook left claims out of the token")
    # With policy bundles: the one deciding for these claims; the issuer's mapping (prefix,
    # groups claim): the token's `iss`.
    authz = authz.current(claims)
    mapping = authz.issuers.named(claims.get("iss")).mapping
    uid = mapping.principal_uid(claims)
    if uid["id"] != principal_id:
        raise InvalidToken("principal_mismatch", "the token is not the gateway's principal")
    return Subject(uid, tuple(mapping.principal_entities(claims, authz.engine.knows)), claims)


def request_record(
    method: str,
    path: str,
    route: str,
    path_parameters: Mapping[str, str],
    query: Mapping[str, str],
    source_ip: str | None,
    now: float,
) -> dict[str, Any]:
    """``context.request`` as the gateway builds it (entities.request_record)."""
    record: dict[str, Any] = {
        "method": method.upper(),
        "path": path,
        "route": route,
        "pathParameters": dict(path_parameters),
        "query": dict(query),
        "time": datetime_value(now),
    }
    # Read as the gateway reads it: a dual-stack listener reports an IPv4 client as
    # `::ffff:127.0.0.1`, which a forbid on `127.0.0.0/8` did not catch.
    address = client_address(source_ip)
    if address:
        record["sourceIp"] = ip_value(address)
    return record


# --- aiohttp -----------------------------------------------------------------------------------


def forwarded_context(request: web.Request) -> Mapping[str, Any] | None:
    """``request[GATEWAY_CONTEXT]``, else the ``X-Authorizer-*`` headers (``-Principal-Id`` ->
    ``principalId``), else None."""
    given = request.get(GATEWAY_CONTEXT)
    if isinstance(given, Mapping):
        return given
    found = {}
    for name, value in request.headers.items():
        if name.lower().startswith(HEADER_PREFIX):
            words = name[len(HEADER_PREFIX) :].split("-")
            found[words[0].lower() + "".join(w.capitalize() for w in words[1:])] = value
    return found or None


def first_values(request: web.Request) -> dict[str, str]:
    """The query, each parameter's first value (a parameter given twice is refused where a
    policy may read the query: ``_check``)."""
    return {name: request.query.getone(name) for name in request.query}


def peer_address(request: web.Request) -> str | None:
    return request.remote


def kid_of(authorization: str) -> str | None:
    """The kid a Bearer token's header names, or None. Nothing here is trusted: it only tells
    whether the key set must be fetched before the token is verified."""
    try:
        segment = bearer(authorization).split(".", 1)[0]
        if len(segment) > MAX_HEADER_LENGTH:
            return None
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (Unauthorized, ValueError, RecursionError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH else None


def _in_thread(run: Callable[[], None]) -> None:
    # A thread of its own, not the guard's executor (whose one thread verifies every request)
    # nor the loop's default one; at most one fetch runs at a time, once per cooldown.
    threading.Thread(target=run, name="cedar-authz-jwks", daemon=True).start()


@dataclass(frozen=True)
class Guard:
    """How a backend establishes who calls. ``executor``: run verification and decisions off
    the event loop (a single thread: the authorizer's caches are not thread-safe). Key-set
    fetches never run on the loop nor on the executor (``keys_for``)."""

    authorizer: Authorizer
    trust_gateway: bool = False
    gateway_context: GatewayReader = forwarded_context
    source_ip: AddressReader = peer_address
    executor: Executor | None = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if self.executor is None:
            return function(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(function, *args))

    async def keys_for(self, authorization: str) -> None:
        """Wait, without blocking the loop, for the key-set fetch verifying this token needs (an
        unknown kid, no keys yet), if any: it runs in a thread, and every request that needs it
        awaits the same one. A held key never waits; a stale one is refreshed behind it."""
        kid = kid_of(authorization)
        if kid is None:
            return  # verification refuses the token before any key is looked up
        try:  # the keys of the issuer the token names; an unknown one is refused unfetched
            keys = self.authorizer.issuers.of_token(bearer(authorization)).keys
        except Unauthorized:
            return
        flight = keys.pending(kid, _in_thread)
        if flight is not None:
            await asyncio.wrap_future(flight)


def _request_key(name: str, kind: object) -> Any:
    """A typed ``web.RequestKey`` (aiohttp 3.14+ warns on plain strings), or the name on an
    older aiohttp. Read them with the accessors below, which check the types."""
    factory = getattr(web, "RequestKey", None)
    return factory(name, kind) if factory is not None else name


GUARD = _request_key("cedar_authz_guard", Guard)
IDENTITY = _request_key("cedar_authz_identity", Subject)  # the caller (``caller(request)``)
RESOURCE = _request_key("cedar_authz_resource", object)  # what the provider loaded
DECISION = _request_key("cedar_authz_decision", Decision)  # the decision behind the answer
GATEWAY_CONTEXT = _request_key("cedar_authz_gateway_context", Mapping)  # set by an adapter


def caller(request: web.Request) -> Subject | None:
    found = request.get(IDENTITY)
    return found if isinstance(found, Subject) else None


def decision(request: web.Request) -> Decision | None:
    found = request.get(DECISION)
    return found if isinstance(found, Decision) else None


def _guard(request: web.Request) -> Guard | None:
    found = request.get(GUARD)
    return found if isinstance(found, Guard) else None


def cedar_middleware(guard: Guard) -> Middleware:
    """Identify the caller of every request that carries credentials (401 when they are
    invalid); requests without any go on unidentified (a ``require`` then answers 401)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[GUARD] = guard
        authorization = request.headers.getall("Authorization", [])
        gateway = guard.gateway_context(request) if guard.trust_gateway else None
        if authorization or gateway:
            credentials = ",".join(authorization)
            try:
                if not (guard.trust_gateway and gateway):  # else the gateway verified it
                    await guard.keys_for(credentials)
                request[IDENTITY] = await guard.run(
                    identify, guard.authorizer, credentials, gateway, guard.trust_gateway
                )
            except Exception as error:
                return _failed(error, "identifying the caller")
        return await handler(request)

    return middleware


def require(
    action: ActionLike,
    *,
    resource: ResourceProvider | None = None,
    context: ContextProvider | None = None,
) -> Callable[[Handler], Handler]:
    """Allow the handler only when Cedar allows ``action`` on the resource ``resource(request)``
    loads (the Application without a provider)."""
    return _guarded(lambda authz: api.parse_action(action, authz.mapping.action_type),
                    resource, context)  # fmt: skip


def require_permission(
    permission: str,
    *,
    resource: ResourceProvider | None = None,
    context: ContextProvider | None = None,
) -> Callable[[Handler], Handler]:
    """``require`` the action named by the permission, ``<NS>::Action::"<permission>"`` (the
    id used as is: nothing in it is parsed)."""
    return _guarded(lambda authz: {"type": authz.mapping.action_type, "id": permission},
                    resource, context)  # fmt: skip


def _guarded(
    action_of: Callable[[Authorizer], api.Uid],
    provider: ResourceProvider | None,
    extra: ContextProvider | None,
) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            guard = _guard(request)
            if guard is None:
                logger.error("%s is guarded but cedar_middleware is not installed", request.path)
                return answer(403)
            who = caller(request)
            if who is None:
                return answer(401)
            try:
                loaded = await _maybe(provider(request)) if provider else None
                if provider is not None and loaded is None:
                    return answer(404)
                decision = await _check(guard, request, who, action_of, loaded, extra)
            except web.HTTPClientError:
                raise  # a provider's own refusal (404, 400...): the handler never runs either way
            except Exception as error:
                return _failed(error, "the check")
            request[DECISION] = decision
            if not decision.allowed:
                return answer(403)
            request[RESOURCE] = loaded
            return await handler(request)

        return guarded

    return decorate


async def _check(
    guard: Guard,
    request: web.Request,
    who: Subject,
    action_of: Callable[[Authorizer], api.Uid],
    loaded: api.ResourceLike | None,
    extra: ContextProvider | None,
) -> Decision:
    authz = guard.authorizer
    added = dict(await _maybe(extra(request))) if extra else {}
    info = request.match_info.route.resource
    record = request_record(
        request.method,
        canonical_path(request.path),  # as the gateway gives it (400 for a `..` segment)
        info.canonical if info is not None else request.path,
        dict(request.match_info),
        first_values(request),
        guard.source_ip(request),
        authz.clock(),
    )

    repeated = [name for name in request.query if len(request.query.getall(name)) > 1]

    def decide() -> Decision:
        current = authz.current(who.claims)  # with policy bundles: the caller's, current
        target = api.parse_resource(loaded if loaded is not None else current.mapping.application)
        action = action_of(current)
        if repeated:  # refused where a policy may read the query, as the gateway refuses it
            reads = api.context_reads(current.engine, frozenset({(action["type"], action["id"])}))
            if reads is None or REQUEST_QUERY in reads:
                raise InvalidParameter(
                    "ambiguous_parameter", f"query parameter {repeated[0][:64]!r} given twice"
                )
        return api.decide(current, who, [(action, target)], added, record)[0]

    return await guard.run(decide)


def redact_for(
    request: web.Request,
    documents: Any,
    resources: api.ResourceOf | None = None,
    field_actions: api.FieldActions = None,
) -> Any:
    """``Authorizer.redact`` for the caller of a guarded handler; the resource defaults to the
    one its provider loaded. Without an identity every guarded field is removed."""
    guard, who = _guard(request), caller(request)
    target = resources if resources is not None else request.get(RESOURCE)
    if guard is None or who is None or target is None:
        raise PermissionError("redact_for needs cedar_middleware, a caller and a resource")
    current = guard.authorizer.current(who.claims)
    return redaction.redact(current, documents, who, target, field_actions)


def _failed(error: Exception, step: str) -> web.Response:
    """The answer to a step that raised, by ``errors.status_of``: 401 for a caller who is not
    authenticated, else 500 with the traceback logged (a 401 or 403 would hide a bug or an
    outage as the caller's fault, and the handler never runs either way). A parameter refused
    (``InvalidParameter``) is a 400 here, which API Gateway's authorizer cannot answer."""
    if isinstance(error, InvalidParameter):  # API Gateway can only say 401; a backend says 400
        logger.info("bad request: %s", error.reason)
        return answer(BAD_REQUEST)
    status = status_of(error)
    if status == UNAUTHORIZED:
        logger.info("unauthenticated: %s", error.reason if isinstance(error, Unauthorized) else "")
    else:
        logger.error("%s failed", step, exc_info=error)
    return answer(status)


def answer(status: int) -> web.Response:
    messages = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"message": messages.get(status, "Internal Server Error")}
    return web.json_response(body, status=status, headers=headers)


async def _maybe(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value
