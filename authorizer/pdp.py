"""The policy decision point: event -> token -> entities -> Cedar -> response.

Everything that can be done once (settings, policies, schema, route table, key cache) is done in
``from_env`` at cold start; ``handle`` does only per-request work. Backends use a subclass with
the backend API's entry points (``authorizer.sdk.client``), so the gateway and the data layer
decide with the same policies.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, Self

import cedarpy

from authorizer import cache_keys
from authorizer.cedar.analysis import REQUEST_QUERY, REQUEST_SOURCE_IP, TOKEN_ONLY_CONTEXT
from authorizer.cedar.coerce import DROPPED
from authorizer.cedar.engine import Decision, Engine
from authorizer.cedar.schema import ActionDef, RecordType
from authorizer.config import Settings
from authorizer.errors import UNAUTHORIZED, DependencyError, Unauthorized, status_of
from authorizer.gateway.arn_patterns import exact_answer, route_policy
from authorizer.gateway.events import EventKind, Request, bearer_token, parse_event
from authorizer.gateway.response import (
    ContextValue,
    flat_context,
    iam_policy,
    iam_policy_statements,
    simple_response,
    unauthorized,
)
from authorizer.gateway.routes import Route, RouteMatch
from authorizer.identity.entities import EntityMapping, per_token_claims
from authorizer.identity.fetch import Fetch, http_fetch
from authorizer.identity.issuers import IssuerRegistry
from authorizer.identity.jwks import JwksCache
from authorizer.identity.revocation import RevocationList, revocation_list
from authorizer.identity.tokens import VerifiedToken
from authorizer.records import NamedTuple
from authorizer.route_building import route_table
from authorizer.stores.file_slices import PrincipalPart
from authorizer.stores.store import EntitySet, EntityStore
from authorizer.stores.ttl_cache import ExpiringCache, Lru
from authorizer.telemetry import Telemetry

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
CACHE_SIZE = 10_000


class Caller(NamedTuple):
    """A verified token with its Cedar principal and per-request entities, built once per token."""

    token: VerifiedToken
    principal: Mapping[str, str]
    # Always None: a caller holds no entities handle (memory would grow with callers x store);
    # each request gets a small one from ``part`` (Engine.entity_set). Kept for the backend API.
    entities: cedarpy.Entities | None
    # context.token by its declared type (EntityMapping.token_shape): shaped once per token.
    token_records: dict[object, Any]
    # The principal and its groups from the token (EntityMapping.principal_entities).
    extra: tuple[Mapping[str, Any], ...]
    # ``cache_keys.claims_key`` of the token: the claims everything above is made from (all but
    # the per-token ones nothing reads). So it stands, in the decision caches' keys, for all that
    # Cedar sees of the caller: its entities and its token record for any action.
    claims_key: str
    # ``extra`` serialised once, with the caller's slice of a JSON entity store (Engine).
    part: PrincipalPart
    # ``token_records`` serialised (cache_keys.entity_text), once each, for Cedar's context.
    token_texts: dict[object, str]
    # What ``respond`` forwards of the caller to backends, flattened, per policy version.
    answers: dict[str, dict[str, ContextValue]]


class TokenVerifying(Protocol):
    """What verifies a bearer token for the pipeline: its issuers, or a cache in front of them
    (``authorizer.live.VerifiedOnce``)."""

    def verify(self, token: str) -> VerifiedToken: ...


class Outcome(NamedTuple):
    """A decision with what it was about, for the response and the log line."""

    decision: Decision
    principal: Mapping[str, str]
    action: Mapping[str, str] | None
    resource: Mapping[str, str] | None
    cache: str = "none"
    # For a token-level route: the decision of every token-level route, for one IAM policy.
    routes: Mapping[Route, Decision] | None = None


class Authorizer:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
        telemetry: Telemetry | None = None,
        revocations: RevocationList | None = None,
        issuers: IssuerRegistry | None = None,
    ) -> None:
        self.settings = settings
        # REVOCATION_TABLE: checked for every token, fresh or cached (``verify``); None: unset.
        self.revocations = revocations
        self.engine = engine
        self.clock = clock
        namespace = settings.namespace
        if namespace is None:
            namespace = engine.model.default_namespace if engine.model else ""
        # The trusted issuers (AUTH_ISSUER, or AUTH_ISSUERS), each with its own verifier, key
        # cache and mapping; the token's `iss` picks one before any key is fetched.
        # (Given: shared with other policy sets, as the bundles of authorizer/live.py are.)
        if issuers is None:
            issuers = IssuerRegistry.build(settings, namespace, engine.model, fetch, clock)
        self.issuers = issuers
        # The first issuer's: what the mapping says of types, resources and context is the same
        # for every issuer (only the principal's prefix and groups claim differ).
        self.mapping: EntityMapping = self.issuers.first.mapping
        self.several_issuers = len(self.issuers) > 1
        self.routes = route_table(engine, self.mapping)
        # Level 1: routes whose decision depends on the token alone are answered together.
        self.token_routes = tuple(r for r in self.routes.routes if self.is_token_level(r))
        self._token_route_set = frozenset(self.token_routes)
        # The other routes, never answered from a token-keyed cache: a cached token-level answer
        # whose Allow pattern (`GET/notes/*`) covers one of them (`GET/notes/{id}/raw`, which
        # reads the source address) denies it, or leaves that Allow out (DESIGN §4: one cached
        # answer per token serves the whole API).
        self._per_request_routes = tuple(
            r for r in self.routes.routes if r not in self._token_route_set
        )
        # What each route's policies read of the context (the decision cache keys on that only),
        # worked out on a route's first request: cold start has better things to do.
        self._route_reads: dict[Route, frozenset[str] | None] = {}
        # Each route's action definition and token type; the token-level routes' distinct types.
        self._route_tokens: dict[Route, tuple[ActionDef | None, object]] = {}
        self.keys: JwksCache = self.issuers.first.keys  # with one issuer, its key cache
        # Verifies a token of any trusted issuer (a policy bundle's pipelines share the bundle
        # layer's, which verifies each token once: authorizer.live.VerifiedOnce).
        self.verifier: TokenVerifying = self.issuers
        self.telemetry = telemetry or Telemetry()
        # Verified tokens live until their `exp`; decisions until the TTL or `exp`, whichever first.
        self._tokens: ExpiringCache[str, Caller] = ExpiringCache(CACHE_SIZE, clock)
        self._decisions: ExpiringCache[cache_keys.DecisionKey, Decision] = ExpiringCache(
            CACHE_SIZE, clock
        )
        self._batches: ExpiringCache[cache_keys.BatchKey, tuple[Decision, ...]] = ExpiringCache(
            CACHE_SIZE, clock
        )
        # A user's next token (a refresh: new times and ids, the same claims otherwise) makes
        # the same entities and token records: the caller made for the last one is reused,
        # keyed on every claim but those that change per token and nothing reads.
        self._per_token = per_token_claims(engine.model)
        self._callers: Lru[str, Caller] = Lru(CACHE_SIZE)

    def is_token_level(self, route: Route) -> bool:
        """True when every policy that can apply to the route reads no context but the token and
        the resource is the Application: then the decision is the same for every request that
        carries the same token, and API Gateway may cache it by token alone."""
        application = self.mapping.application["type"]
        if route.resource_types is not None and route.resource_types != (application,):
            return False  # another type's resource, or (no `appliesTo`) none: per request
        if (
            route.principal_types is not None
            and self.mapping.user_type not in route.principal_types
        ):
            return False  # never for this caller: denied per request
        reads = self.context_reads(route)
        if reads is None or not reads <= TOKEN_ONLY_CONTEXT:
            return False
        if self.engine.validate_requests and self.engine.model is not None:
            # Validated, a request needs every attribute the schema requires, read or not: one
            # from the path (`projectId`) cannot be given for every route of a batch at once.
            action = self.engine.model.action(route.action_type, route.action_id)
            if action is not None and _requires_more_than_the_token(action.context):
                return False
        return True

    def context_reads(self, route: Route) -> frozenset[str] | None:
        """The context attributes any policy of the route reads (None: the context whole), from
        the engine's index: no policy is read (a cold start with many policies reads none)."""
        return self.engine.context_reads([(route.action_type, route.action_id)])

    def route_reads(self, route: Route) -> frozenset[str] | None:
        """``context_reads``, kept per route."""
        try:
            return self._route_reads[route]
        except KeyError:
            reads = self._route_reads[route] = self.context_reads(route)
            return reads

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
    ) -> Self:
        return cls.from_settings(Settings.from_env(environ), fetch, clock)

    @classmethod
    def from_settings(
        cls, settings: Settings, fetch: Fetch = http_fetch, clock: Clock = time.time
    ) -> Self:
        """Over the packaged policy folder (CEDAR_POLICY_DIR, CEDAR_SCHEMA, CEDAR_ENTITIES)."""
        if settings.schema_path is None:
            logger.warning("no schema: policies are not validated and claims not coerced")
        # ENTITY_STORE_TABLE: entities from DynamoDB (boto3 imported only then), else the file.
        store: EntityStore | None = None
        if settings.store.table:
            from authorizer.stores.dynamo_store import dynamodb_store  # noqa: PLC0415

            if settings.entities_path is not None:
                logger.warning("ENTITY_STORE_TABLE is set: CEDAR_ENTITIES is not used")
            store = dynamodb_store(settings.store, settings.aws, clock=clock)
        elif settings.store.user_groups_from_store:
            logger.warning(
                "USER_GROUPS_FROM_STORE needs ENTITY_STORE_TABLE: a JSON file's Users "
                "are used as the file has them, other users' groups from the token"
            )
        engine = Engine.load(
            settings.policy_dir,
            settings.schema_path,
            settings.entities_path,
            settings.template_links,
            store=store,
        )
        engine.validate_requests = settings.validate_requests
        # boto3 is imported only when REVOCATION_TABLE is set.
        revocations = revocation_list(settings.revocation, settings.aws, clock)
        return cls(settings, engine, fetch=fetch, clock=clock, revocations=revocations)

    def current(self, claims: Mapping[str, Any] | None = None) -> Authorizer:
        """The pipeline deciding now (for a caller with ``claims``): this one. (A backend's
        authorizer following policy bundles answers with the bundle's current version, the
        caller's tenant's or issuer's: ``authorizer.sdk.client``.)"""
        return self

    # --- the Lambda path -------------------------------------------------------------------

    def handle(self, event: object, parsed: Request | None = None) -> dict[str, Any]:
        """The answer to an API Gateway authorizer event. ``parsed``: that event as
        ``parse_event`` reads it, when a layer in front (``authorizer.live``) read it already."""
        started = time.perf_counter()
        request: Request | None = parsed
        try:
            if request is None:
                request = parse_event(event)
            caller = self.verify(bearer_token(request))
            outcome = self.decide(request, caller)
        except Exception as error:  # errors.status_of says how each one ends
            if status_of(error) == UNAUTHORIZED and isinstance(error, Unauthorized):
                self._log_failure("Unauthorized", started, request, error.reason, error.detail)
                unauthorized()
            if isinstance(error, DependencyError):
                self._log_failure("Error", started, request, "dependency", str(error))
            else:  # a bug: its traceback, then a 500 that API Gateway never caches
                logger.exception("authorizer failed")
                self._log_failure("Error", started, request, "internal", repr(error))
            raise
        decision = outcome.decision
        self.telemetry.decision(
            outcome="Allow" if decision.allowed else "Deny",
            latency_ms=(time.perf_counter() - started) * 1000,
            cache=outcome.cache,
            principal=outcome.principal["id"],
            action=outcome.action["id"] if outcome.action else None,
            resource=_uid_text(outcome.resource),
            policies=decision.determining,
            errors=decision.errors,
            event_kind=request.kind.value,
            issuer=caller.token.claims.get("iss") if self.several_issuers else None,
            policy_version=self.engine.version,
        )
        return self.respond(request, caller, outcome)

    def verify(self, token: str) -> Caller:
        """A verified caller, from the token cache until the token's `exp`. Not revoked: the
        revocation list is asked every time (its answers are cached for REVOCATION_CACHE_TTL), so
        a cached token, and the decisions cached for it, are refused once its revocation is seen.
        """
        cached = self._tokens.get(token)
        if cached is not None:
            if self.revocations is not None:
                self.revocations.check(cached.token.claims)
            return cached
        verified = self.verifier.verify(token)  # the signature first: no table read for junk
        if self.revocations is not None:
            self.revocations.check(verified.claims)
        claims = verified.claims
        same = cache_keys.claims_key(claims, self._per_token)
        known = self._callers.get(same)
        if known is not None:  # what was derived from equal claims, with this token
            caller = known._replace(token=verified)
        else:
            extra = self.issuers.mapping_of(claims).principal_entities(claims, self.engine.knows)
            part = self.engine.principal_part(extra)
            caller = Caller(verified, extra[0]["uid"], None, {}, part.extra, same, part, {}, {})
            self._callers.put(same, caller)
        self._tokens.put(token, caller, float(claims["exp"]))
        return caller

    def decide(self, request: Request, caller: Caller) -> Outcome:
        principal = caller.principal
        match = self.routes.match(
            request.method, request.path, request.route, request.path_parameters
        )
        if match is None:
            denied = Decision(False, "Deny", (), ("no route for this method and path",))
            return Outcome(denied, principal, None, None)
        action = match.route.action_uid
        principal_types = match.route.principal_types
        if principal_types is not None and principal["type"] not in principal_types:
            # Cedar, given the schema, builds no request of this principal type for this action
            # (`appliesTo`; none without it): a permit scoped to any principal must not allow it.
            why = f"the action applies to {_types(principal_types)}, not to {principal['type']}"
            return Outcome(Decision(False, "Deny", (), (why,)), principal, action, None)
        if match.route in self._token_route_set:
            return self._decide_token_level(request, caller, match)
        if request.kind is EventKind.TOKEN and self._reads_beyond_token_events(match.route):
            # Decided without them, a forbid on the query or the network would not hold.
            why = ("this route's policies may read the request's query or source address, "
                   "which a TOKEN event does not carry: give it a REQUEST authorizer")  # fmt: skip
            return Outcome(Decision(False, "Deny", (), (why,)), principal, action, None)
        resource = self.mapping.resource_uid(match)
        declared = match.route.resource_types
        if declared is not None and resource["type"] not in declared:
            # Decided on the Application, a request the schema says cannot exist would reach
            # policies that never looked at its resource (Cedar checks no types here).
            why = f"the action applies to {_types(declared)}: this route gives none of them"
            unbuildable = Decision(False, "Deny", (), (why,))
            return Outcome(unbuildable, principal, action, resource)
        if self.mapping.not_in_enum(resource):
            # An enumerated type has no other entity: Cedar, given the schema, builds no such
            # request, and `unless { resource == Region::"us" }` would allow GET /regions/zz.
            why = f"{resource['type']} has no entity {resource['id'][:64]!r} (an enumerated type)"
            return Outcome(Decision(False, "Deny", (), (why,)), principal, action, resource)
        # Key on what Cedar is given: the caller (its entities and token records, made from the
        # claims its key covers), the route, the resource and the context attributes the
        # policies name beyond the token. Not on the token itself: a user's next token with the
        # same claims finds the decisions made for the last one.
        # With request validation on, Cedar checks attributes no policy reads: key on them all.
        reads = None if self.engine.validate_requests else self.route_reads(match.route)
        context: dict[str, Any] | None = None
        part: object = None
        if reads is None or not reads <= TOKEN_ONLY_CONTEXT:
            context = self._context(caller, request, match)
            part = cache_keys.context_part(context, reads)
        current = cache_keys.generation(self.engine.version, self.engine.store.generation)
        key = cache_keys.decision_key(current, caller.claims_key, action, resource, part)
        cached = self._decisions.get(key)
        if cached is not None:
            return Outcome(cached, principal, action, resource, cache="decision")
        if context is None:
            context = self._context(caller, request, match)
        cedar_request = {"principal": principal, "action": action, "resource": resource,
                         "context": self._context_json(caller, match.route, context)}  # fmt: skip
        entities = self._entities(caller, resource, [context])
        decision = self._evaluate([cedar_request], entities.handle)[0]
        if self.settings.decision_cache_ttl > 0:
            until = min(self._expiry(caller.token), entities.expires_at)
            self._decisions.put(key, decision, until)
        return Outcome(decision, principal, action, resource)

    def _reads_beyond_token_events(self, route: Route) -> bool:
        """Whether the route's policies may read what a TOKEN event does not carry: the query
        and source address of ``context.request``, or a context attribute the action declares
        that is no path parameter of the route (it would come from the query)."""
        reads = self.route_reads(route)
        if reads is None or REQUEST_QUERY in reads or REQUEST_SOURCE_IP in reads:
            return True
        action = self._route_token(route)[0]
        if action is None:
            return False
        declared = action.context.attributes
        parameters = route.parameters
        return any(
            name in declared and name not in parameters
            for name in reads
            if name not in ("token", "request")
        )

    def _entities(
        self, caller: Caller, resource: Mapping[str, str], contexts: list[Any]
    ) -> EntitySet:
        """The entities Cedar needs for the caller's requests about ``resource`` (a slice of a
        JSON file store, or what a live store reads), with the time until which a decision made
        with them may be reused."""
        return self.engine.entity_set(caller.part, (resource,), contexts)

    def _decide_token_level(self, request: Request, caller: Caller, match: RouteMatch) -> Outcome:
        """Every token-level route in one pass; the answers are cached per caller content."""
        current = cache_keys.generation(self.engine.version, self.engine.store.generation)
        key = cache_keys.batch_key(current, caller.claims_key)
        cached = self._batches.get(key)
        if cached is not None:
            decisions, cache = cached, "token"
        else:
            # A route whose context cannot be made for this token (a claim its token type
            # requires) is denied for it, as it would be refused alone; it does not refuse the
            # others (a token without `email` was a 401 on every token-level route).
            routes: list[Route] = []
            contexts: list[dict[str, Any]] = []
            refused: dict[Route, Decision] = {}
            for route in self.token_routes:
                try:
                    contexts.append(self._context(caller, request, RouteMatch(route, {})))
                    routes.append(route)
                except Unauthorized as error:
                    if route == match.route:
                        raise
                    refused[route] = Decision(False, "Deny", (), (str(error),))
            # One principal and one resource object for every request: the engine works out
            # their index keys once per batch, not once per route.
            application = self.mapping.application
            requests = [
                {"principal": caller.principal, "action": route.action_uid,
                 "resource": application, "context": self._context_json(caller, route, context)}
                for route, context in zip(routes, contexts, strict=True)
            ]  # fmt: skip
            entities = self._entities(caller, application, contexts)
            evaluated = dict(zip(routes, self._evaluate(requests, entities.handle), strict=True))
            decisions = tuple(evaluated.get(r) or refused[r] for r in self.token_routes)
            cache = "none"
            if self.settings.decision_cache_ttl > 0 and not refused:
                # (with a refused route, not kept: asked on that route, the token is refused)
                until = min(self._expiry(caller.token), entities.expires_at)
                self._batches.put(key, decisions, until)
        by_route = dict(zip(self.token_routes, decisions, strict=True))
        return Outcome(
            by_route[match.route], caller.principal, match.route.action_uid,
            self.mapping.application, cache, by_route,
        )  # fmt: skip

    def _route_token(self, route: Route) -> tuple[ActionDef | None, object]:
        """The route's action in the schema and its token type (``EntityMapping.token_shape``),
        looked up once per route."""
        found = self._route_tokens.get(route)
        if found is None:
            model = self.engine.model
            action = model.action(route.action_type, route.action_id) if model else None
            found = self._route_tokens[route] = (action, self.mapping.token_shape(action))
        return found

    def _token_record(self, caller: Caller, route: Route) -> Any:
        """``context.token`` for the route's action, shaped once per caller and token type."""
        action, shape = self._route_token(route)
        token = caller.token_records.get(shape)
        if token is None:
            token = self.mapping.token_record(caller.token.claims, action)
            caller.token_records[shape] = token
        return token

    def _token_text(self, caller: Caller, route: Route) -> str:
        """``_token_record`` serialised, once per caller and token type."""
        shape = self._route_token(route)[1]
        text = caller.token_texts.get(shape)
        if text is None:
            text = caller.token_texts[shape] = cache_keys.entity_text(
                self._token_record(caller, route)
            )
        return text

    def _context_json(self, caller: Caller, route: Route, context: dict[str, Any]) -> str:
        """The context as the JSON Cedar parses (cedarpy would ``json.dumps`` a dict itself),
        with the caller's token record spliced in as serialised once."""
        if not context:  # the policies read none of it
            return "{}"
        if "token" not in context:
            return json.dumps(context)
        token = self._token_text(caller, route)
        if len(context) == 1:
            return f'{{"token": {token}}}'
        rest = json.dumps({k: v for k, v in context.items() if k != "token"})
        return f'{rest[:-1]}, "token": {token}}}'

    def _context(self, caller: Caller, request: Request, match: RouteMatch) -> dict[str, Any]:
        route = match.route
        # Cedar converts every context attribute it is given; the route's policies read only
        # `reads`, so the others cannot change the decision and are not even built (with request
        # validation on, the schema wants them all).
        reads = None if self.engine.validate_requests else self.route_reads(route)
        if reads is not None and reads <= TOKEN_ONLY_CONTEXT:
            # The token record at most (what EntityMapping.context makes of these reads): every
            # token-level route of a batch, without shaping the rest of a context.
            if "token" not in reads:
                return {}
            record = self._token_record(caller, route)
            return {} if record is DROPPED else {"token": record}
        action = self._route_token(route)[0]
        token = self._token_record(caller, route)
        claims = caller.token.claims
        return self.mapping.context(claims, request, match, self.clock(), action, token, reads)

    def _evaluate(
        self, requests: list[dict[str, Any]], entities: cedarpy.Entities
    ) -> list[Decision]:
        decisions = self.engine.decide_batch(requests, entities)
        for decision in decisions:
            if decision.decision == "NoDecision":
                logger.error("request does not fit the schema (a bug to fix): %s",
                             "; ".join(decision.errors))  # fmt: skip
        return decisions

    def _expiry(self, token: VerifiedToken) -> float:
        """Cached decisions live for the TTL, never past the token's `exp`."""
        return min(self.clock() + self.settings.decision_cache_ttl, float(token.claims["exp"]))

    def respond(self, request: Request, caller: Caller, outcome: Outcome) -> dict[str, Any]:
        decision = outcome.decision
        context = dict(self._answer(caller))
        if outcome.routes is None:  # a per-request answer may say what decided it
            # (flat_context's forms, written out: an action id, the policy ids joined)
            if outcome.action:
                context["action"] = outcome.action["id"]
            context["determiningPolicies"] = ",".join(decision.determining)
        if request.kind is EventKind.HTTP_V2 and self.settings.http_simple_responses:
            return simple_response(decision.allowed, context)
        principal_id = outcome.principal["id"]
        if outcome.routes is not None and request.kind is not EventKind.HTTP_V2:
            allowed = {route: d.allowed for route, d in outcome.routes.items()}
            policy = route_policy(request.parsed_arn, request.arn, allowed, decision.allowed,
                                  self._per_request_routes)  # fmt: skip
            if policy is not None:
                return iam_policy_statements(principal_id, *policy, context)
        effect, resource = exact_answer(request.arn, decision.allowed)
        return iam_policy(principal_id, effect, [resource], context)

    def _answer(self, caller: Caller) -> dict[str, ContextValue]:
        """The caller's part of the context forwarded to backends, flattened once per policy
        version. Only what Cedar saw, under Cedar's names: the principal's `tenant` attribute as
        the mapping gave it to Cedar, never a raw claim (a user-writable `custom:tenant` is not
        it). With bundles per tenant, also the claim that picked the bundle
        (``CEDAR_TENANT_CLAIM``), under its own name unless that name is taken: a backend given
        only this context picks the same bundle (``sdk.middleware.identify``)."""
        version = self.engine.version
        found = caller.answers.get(version)
        if found is None:
            claims = caller.token.claims
            found = caller.answers[version] = flat_context({
                "principal": caller.principal["id"],
                "sub": claims.get("sub"),
                "policyVersion": version,
                "tenant": _attribute(_principal_seen(caller), "tenant"),
                # With several issuers, whose token it was (verified: its `iss` picked the keys).
                "issuer": claims.get("iss") if self.several_issuers else None,
            })  # fmt: skip
            tenant_claim = self.settings.bundle.tenant_claim
            if tenant_claim is not None and tenant_claim not in found:
                found.update(flat_context({tenant_claim: claims.get(tenant_claim)}))
        return found

    def _log_failure(
        self, outcome: str, started: float, request: Request | None, reason: str, detail: str
    ) -> None:
        self.telemetry.decision(
            outcome=outcome,
            latency_ms=(time.perf_counter() - started) * 1000,
            cache="none",
            reason=reason,
            errors=(detail[:300],) if detail else (),
            event_kind=request.kind.value if request else None,
        )


def _requires_more_than_the_token(context: RecordType) -> bool:
    """Whether a validated request holds what depends on the request beyond the token: a
    context attribute beside `token` and `request` (from the path or the query), or inside
    `request` a declared path or query parameter. Validated, each is checked (and refuses the
    request) whether or not a policy reads it, so the answer is not the token's alone: one
    route's `page=abc` refused another's batch, and a batch cached per token skipped it."""
    for name, attribute in context.attributes.items():
        if name == "token":
            continue
        if name != "request":
            return True
        request = attribute.type
        if isinstance(request, RecordType):
            for part in ("pathParameters", "query"):
                declared = request.attributes.get(part)
                if declared is not None and (
                    not isinstance(declared.type, RecordType)
                    or declared.type.attributes
                    or declared.type.additional_attributes
                ):
                    return True
    return False


def _principal_seen(caller: Caller) -> Mapping[str, Any]:
    """The principal entity Cedar is given: a JSON file's own version of the user where it holds
    one (the file wins over the token), else the token's."""
    uid = (caller.principal["type"], caller.principal["id"])
    for key, text in caller.part.stored:
        if key == uid:
            stored: Mapping[str, Any] = json.loads(text)
            return stored
    return caller.extra[0]


def _attribute(entity: Mapping[str, Any], name: str) -> Any:
    attributes = entity.get("attrs")
    return attributes.get(name) if isinstance(attributes, Mapping) else None


def _uid_text(uid: Mapping[str, str] | None) -> str | None:
    """Cedar's rendering of a uid, for the log line (escaped only when it has to be)."""
    if not uid:
        return None
    plain = uid["id"].isprintable() and '"' not in uid["id"] and "\\" not in uid["id"]
    return f"{uid['type']}::" + (f'"{uid["id"]}"' if plain else json.dumps(uid["id"]))


def _types(names: tuple[str, ...]) -> str:
    """The entity types an action's `appliesTo` names, for a reason: "none" for no types."""
    return ", ".join(names) if names else "no entity type (it has no appliesTo)"
