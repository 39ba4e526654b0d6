"""The policy decision point: event -> token -> entities -> Cedar -> response.

Everything that can be done once (settings, policies, schema, route table, key cache) is done in
``from_env`` at cold start; ``handle`` does only per-request work. Backends use the same object
(``is_authorized``) so the gateway and the data layer decide with the same policies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy
from cachetools import TLRUCache

from authorizer.analysis import TOKEN_ONLY_CONTEXT, context_reads, reads_only_token
from authorizer.config import Settings
from authorizer.engine import Decision, Engine, find_entities, find_schema
from authorizer.entities import EntityMapping
from authorizer.errors import DependencyError, Unauthorized
from authorizer.events import EventKind, Request, bearer_token, parse_event
from authorizer.jwks import Fetch, JwksCache, http_fetch
from authorizer.policies import LoadedPolicies
from authorizer.response import (
    Effect,
    flat_context,
    iam_policy,
    iam_policy_statements,
    resource_matches,
    simple_response,
    unauthorized,
)
from authorizer.routes import Route, RouteMatch, RouteTable, route_of
from authorizer.telemetry import Telemetry
from authorizer.tokens import TokenVerifier, VerifiedToken

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Caller:
    """A verified token with its Cedar principal and per-request entities, built once per token."""

    token: VerifiedToken
    principal: Mapping[str, str]
    entities: cedarpy.Entities
    # context.token per action: it depends on the token alone, so it is shaped once.
    token_records: dict[tuple[str, str], Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
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
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        namespace = settings.namespace
        if namespace is None:
            namespace = engine.model.default_namespace if engine.model else ""
        self.mapping = EntityMapping(
            namespace, settings.entity_id_prefix, settings.groups_claim, engine.model
        )
        self.routes = RouteTable(build_routes(engine, self.mapping))
        # Level 1: routes whose decision depends on the token alone are answered together.
        self.token_routes = tuple(r for r in self.routes.routes if self.is_token_level(r))
        self._token_route_set = frozenset(self.token_routes)
        # What each route's policies read of the context: the decision cache keys on that only.
        self._route_reads = {r: self.context_reads(r) for r in self.routes.routes}
        self.keys = JwksCache(settings.jwks_url, fetch=fetch, clock=clock)
        self.verifier = TokenVerifier(settings, self.keys, clock=clock)
        self.telemetry = telemetry or Telemetry()
        # Verified tokens live until their `exp`; decisions until the TTL or `exp`, whichever first.
        self._tokens: TLRUCache[str, Caller] = TLRUCache(CACHE_SIZE, _until_exp, timer=clock)
        self._decisions: TLRUCache[tuple[str, ...], tuple[Decision, float]] = TLRUCache(
            CACHE_SIZE, lambda _k, v, _now: v[1], timer=clock
        )
        self._batches: TLRUCache[tuple[str, str], tuple[tuple[Decision, ...], float]] = TLRUCache(
            CACHE_SIZE, lambda _k, v, _now: v[1], timer=clock
        )

    def is_token_level(self, route: Route) -> bool:
        """True when every policy that can apply to the route reads no context but the token and
        the resource is the Application: then the decision is the same for every request that
        carries the same token, and API Gateway may cache it by token alone."""
        application = self.mapping.application["type"]
        if any(t != application for t in route.resource_types):
            return False
        applicable = self.engine.applicable((route.action_type, route.action_id))
        return reads_only_token(source.json for source in applicable)

    def context_reads(self, route: Route) -> frozenset[str] | None:
        """The context attributes any policy of the route reads (None: the context whole)."""
        found: set[str] = set()
        for source in self.engine.applicable((route.action_type, route.action_id)):
            reads = context_reads(source.json)
            if reads is None:
                return None
            found |= reads
        return frozenset(found)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
    ) -> Authorizer:
        settings = Settings.from_env(environ)
        schema = settings.schema_path or find_schema(Path("schemas"))
        if not settings.use_schema:
            schema = None
            logger.warning("CEDAR_SCHEMA=none: policies are not validated and claims not coerced")
        entities = settings.entities_path or find_entities(Path("entities"))
        engine = Engine.load(
            settings.policy_dir,
            schema,
            entities if settings.use_entities else None,
            settings.template_links,
        )
        engine.validate_requests = settings.validate_requests
        return cls(settings, engine, fetch=fetch, clock=clock)

    # --- the Lambda path -------------------------------------------------------------------

    def handle(self, event: object) -> dict[str, Any]:
        started = time.perf_counter()
        request: Request | None = None
        try:
            request = parse_event(event)
            caller = self.verify(bearer_token(request))
            outcome = self.decide(request, caller)
        except Unauthorized as error:
            self._log_failure("Unauthorized", started, request, error.reason, error.detail)
            unauthorized()
        except DependencyError as error:
            self._log_failure("Error", started, request, "dependency", str(error))
            raise
        except Exception as error:
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
        )
        return self.respond(request, caller, outcome)

    def verify(self, token: str) -> Caller:
        """A verified caller, from the token cache until the token's `exp`."""
        cached = self._tokens.get(token)
        if cached is not None:
            return cached
        verified = self.verifier.verify(token)
        extra = self.mapping.principal_entities(verified.claims)
        caller = Caller(verified, extra[0]["uid"], self.engine.entities_with(extra))
        self._tokens[token] = caller
        return caller

    def decide(self, request: Request, caller: Caller) -> Outcome:
        principal = caller.principal
        match = self.routes.match(
            request.method, request.path, request.route, request.path_parameters
        )
        if match is None:
            denied = Decision(False, "Deny", (), ("no route for this method and path",))
            return Outcome(denied, principal, None, None)
        if match.route in self._token_route_set:
            return self._decide_token_level(request, caller, match)
        action = match.route.action_uid
        resource = self.mapping.resource_uid(match)
        # Key on what the policies can read: the token (its digest), the route, the resource and
        # the context attributes they name. A route whose policies read only the token needs no
        # context at all to find its cached decision.
        reads = self._route_reads[match.route]
        context: dict[str, Any] | None = None
        part: object = None
        if reads is None or not reads <= TOKEN_ONLY_CONTEXT:
            context = self._context(caller, request, match)
            part = context if reads is None else {k: context.get(k) for k in sorted(reads)}
        key = (self.engine.version, caller.token.digest, action["id"], resource["type"],
               resource["id"], _digest(part))  # fmt: skip
        cached = self._decisions.get(key)
        if cached is not None:
            return Outcome(cached[0], principal, action, resource, cache="decision")
        if context is None:
            context = self._context(caller, request, match)
        cedar_request = {"principal": principal, "action": action, "resource": resource,
                         "context": context}  # fmt: skip
        decision = self._evaluate([cedar_request], caller.entities)[0]
        if self.settings.decision_cache_ttl > 0:
            self._decisions[key] = (decision, self._expiry(caller.token))
        return Outcome(decision, principal, action, resource)

    def _decide_token_level(self, request: Request, caller: Caller, match: RouteMatch) -> Outcome:
        """Every token-level route in one pass; the answers are cached per token."""
        key = (self.engine.version, caller.token.digest)
        cached = self._batches.get(key)
        if cached is not None:
            decisions, cache = cached[0], "token"
        else:
            requests = [
                {"principal": caller.principal, "action": route.action_uid,
                 "resource": self.mapping.application,
                 "context": self._context(caller, request, RouteMatch(route, {}))}
                for route in self.token_routes
            ]  # fmt: skip
            decisions, cache = tuple(self._evaluate(requests, caller.entities)), "none"
            if self.settings.decision_cache_ttl > 0:
                self._batches[key] = (decisions, self._expiry(caller.token))
        by_route = dict(zip(self.token_routes, decisions, strict=True))
        return Outcome(
            by_route[match.route], caller.principal, match.route.action_uid,
            self.mapping.application, cache, by_route,
        )  # fmt: skip

    def _context(self, caller: Caller, request: Request, match: RouteMatch) -> dict[str, Any]:
        model = self.engine.model
        route = match.route
        action = model.action(route.action_type, route.action_id) if model else None
        key = (route.action_type, route.action_id)
        token = caller.token_records.get(key)
        if token is None:
            token = self.mapping.token_record(caller.token.claims, action)
            caller.token_records[key] = token
        # Cedar converts every context attribute it is given; the route's policies read only
        # `reads`, so the others cannot change the decision and are not even built (with request
        # validation on, the schema wants them all).
        reads = None if self.engine.validate_requests else self._route_reads[route]
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

    # --- the engine, for the gateway and for backends --------------------------------------

    def is_authorized(
        self,
        principal: Mapping[str, str],
        action: Mapping[str, str],
        resource: Mapping[str, str],
        context: Mapping[str, Any],
        claims: Mapping[str, Any] | None = None,
    ) -> Decision:
        """One Cedar decision. With ``claims``, the principal and its groups come from them."""
        extra = self.mapping.principal_entities(claims) if claims is not None else []
        request = {"principal": dict(principal), "action": dict(action), "resource": dict(resource),
                   "context": dict(context)}  # fmt: skip
        return self._evaluate([request], self.engine.entities_with(extra))[0]

    def respond(self, request: Request, caller: Caller, outcome: Outcome) -> dict[str, Any]:
        decision = outcome.decision
        claims = caller.token.claims
        values: dict[str, object] = {
            "principal": outcome.principal["id"],
            "sub": claims.get("sub"),
            "policyVersion": self.engine.version,
            "tenant": claims.get("tenant", claims.get("custom:tenant")),
        }
        if outcome.routes is None:  # a per-request answer may say what decided it
            values["action"] = outcome.action["id"] if outcome.action else None
            values["determiningPolicies"] = list(decision.determining)
        context = flat_context(values)
        if request.kind is EventKind.HTTP_V2 and self.settings.http_simple_responses:
            return simple_response(decision.allowed, context)
        principal_id = outcome.principal["id"]
        if outcome.routes is not None and request.kind is not EventKind.HTTP_V2:
            policy = self._route_policy(request, outcome.routes)
            if policy is not None:
                return iam_policy_statements(principal_id, *policy, context)
        effect: Effect = "Allow" if decision.allowed else "Deny"
        return iam_policy(principal_id, effect, [request.arn], context)

    def _route_policy(
        self, request: Request, decisions: Mapping[Route, Decision]
    ) -> tuple[list[str], list[str]] | None:
        """Allow and Deny resources for every token-level route (parameters as `*`), so that a
        policy cached by token answers every such route right. None when a deny pattern would
        also cover an allowed route (IAM's explicit deny would win): then answer for this
        request only."""
        arn = request.parsed_arn

        def pattern(route: Route) -> str:
            return arn.for_route("*" if route.method == "ANY" else route.method, route.arn_path)

        allow = [pattern(r) for r, d in decisions.items() if d.allowed]
        deny = [pattern(r) for r, d in decisions.items() if not d.allowed]
        for route, decision in decisions.items():
            if decision.allowed:
                sample = arn.for_route(route.method, route.sample_path)
                if any(resource_matches(p, sample) for p in deny):
                    return None
        if not any(resource_matches(p, request.arn) for p in allow + deny):
            return None  # the event's ARN is not one of ours (a stage or path mapping quirk)
        return allow, deny

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


def build_routes(engine: Engine, mapping: EntityMapping) -> list[Route]:
    """Routes from the schema's actions, or (no schema) from the actions the policies name."""
    routes: list[Route] = []
    if engine.model is not None:
        for action in engine.model.actions:
            found = route_of(action.id, action.annotations)
            if found and action.type == mapping.action_type:
                routes.append(
                    Route(found[0], found[1], action.type, action.id, action.resource_types)
                )
        return routes
    for action_id in sorted(policy_action_ids(engine.policies, mapping.action_type)):
        found = route_of(action_id, {})
        if found:
            routes.append(Route(found[0], found[1], mapping.action_type, action_id))
    return routes


def policy_action_ids(policies: LoadedPolicies, action_type: str) -> set[str]:
    ids: set[str] = set()
    for source in policies.sources.values():
        scope = source.json.get("action", {})
        entities = [scope.get("entity"), *scope.get("entities", [])]
        ids.update(
            e["id"] for e in entities if isinstance(e, dict) and e.get("type") == action_type
        )
    return ids


def _until_exp(_key: str, caller: Caller, _now: float) -> float:
    return float(caller.token.claims["exp"])


def _digest(value: object) -> str:
    if value is None:
        return ""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _uid_text(uid: Mapping[str, str] | None) -> str | None:
    """Cedar's rendering of a uid, for the log line (escaped only when it has to be)."""
    if not uid:
        return None
    plain = uid["id"].isprintable() and '"' not in uid["id"] and "\\" not in uid["id"]
    return f"{uid['type']}::" + (f'"{uid["id"]}"' if plain else json.dumps(uid["id"]))
