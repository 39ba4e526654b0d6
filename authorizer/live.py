"""The authorizer over policy bundles (``CEDAR_POLICY_BUNDLE``): policies that change without a
deploy, one bundle for everyone or one per tenant (docs/architecture.md, Policy bundles).

Each bundle version gets its own ``pdp.Authorizer`` (its routes, token-level routes and caches
are those of that policy set), all sharing the issuers' key caches and the revocation list. At
the start of each invocation the bundle is re-checked when its interval has passed
(``LiveBundle``); a request is decided wholly by the authorizer of the version it started with.

Per tenant (``{tenant}`` in the bundle's URL, ``CEDAR_TENANT_CLAIM``): the token is verified
first, its tenant claim must be a safe name (``[A-Za-z0-9._-]{1,64}``, else 401), and that
tenant's bundle decides, loaded on first use and kept (at most ``CEDAR_TENANT_BUNDLES_MAX``,
least recently used first out). A tenant with no bundle is denied (403), never decided by
another tenant's policies.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cachetools import LRUCache, TLRUCache

from authorizer.cedar.bundle_source import (
    BundleMissing,
    BundleSource,
    LiveBundle,
    bundle_source,
)
from authorizer.cedar.engine import Engine
from authorizer.config import TENANT_PLACEHOLDER, Settings
from authorizer.errors import UNAUTHORIZED, ConfigError, InvalidToken, status_of
from authorizer.gateway.events import EventKind, Request, bearer_token, parse_event
from authorizer.gateway.response import flat_context, iam_policy, simple_response, unauthorized
from authorizer.identity.issuers import IssuerRegistry
from authorizer.identity.jwks import Fetch, http_fetch
from authorizer.identity.revocation import revocation_list
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
SAFE_TENANT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
VERSIONS_KEPT = 2  # per bundle: the current one and the one requests in flight may still hold


class LiveAuthorizer:
    def __init__(
        self,
        settings: Settings,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
        telemetry: Telemetry | None = None,
        sources: Callable[[str], BundleSource] | None = None,
    ) -> None:
        bundle = settings.bundle
        if bundle.url is None:
            raise ConfigError("CEDAR_POLICY_BUNDLE is not set")
        if settings.store.table:
            raise ConfigError("ENTITY_STORE_TABLE with CEDAR_POLICY_BUNDLE: a bundle carries "
                              "its entities (CEDAR_ENTITIES' part); unset one of them")  # fmt: skip
        self.settings, self.clock = settings, clock
        self.telemetry = telemetry or Telemetry()
        self._sources = sources or (lambda url: bundle_source(url, settings.aws))
        self._url = bundle.url
        self.tenant_claim = bundle.tenant_claim
        # The issuers' keys and verifiers, and the revocation list, shared by every version.
        self.issuers = IssuerRegistry.build(settings, "", None, fetch, clock)
        self.revocations = revocation_list(settings.revocation, settings.aws, clock)
        self._fetch = fetch
        # Per bundle (one, or one per tenant): its LiveBundle; per engine: its Authorizer.
        self._bundles: LRUCache[str, LiveBundle] = LRUCache(bundle.tenants_max)
        self._authorizers: LRUCache[int, tuple[Engine, Authorizer]] = LRUCache(
            VERSIONS_KEPT * bundle.tenants_max
        )
        # Claims of verified tokens, so the tenant is known before the tenant's authorizer runs
        # (which verifies again, from its own cache after the first time).
        self._claims: TLRUCache[str, Mapping[str, Any]] = TLRUCache(10_000, _until_exp, timer=clock)
        if self.tenant_claim is None:
            self.bundle("").engine()  # a cold start with no good bundle fails here: 500

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
    ) -> LiveAuthorizer:
        return cls(Settings.from_env(environ), fetch, clock)

    def bundle(self, tenant: str) -> LiveBundle:
        """The live bundle of ``tenant`` ("": the one bundle)."""
        try:
            return self._bundles[tenant]
        except KeyError:
            url = self._url.replace(TENANT_PLACEHOLDER, tenant) if tenant else self._url
            live = LiveBundle(self._sources(url), self.settings.bundle.refresh_seconds,
                              self.clock, on_refused=self._refused)  # fmt: skip
            self._bundles[tenant] = live
            return live

    def authorizer(self, engine: Engine) -> Authorizer:
        """The pipeline of one bundle version, built once."""
        found = self._authorizers.get(id(engine))
        if found is not None and found[0] is engine:
            return found[1]
        engine.validate_requests = self.settings.validate_requests
        namespace = self.settings.namespace
        if namespace is None:
            namespace = engine.model.default_namespace if engine.model else ""
        authorizer = Authorizer(
            self.settings, engine, fetch=self._fetch, clock=self.clock,
            telemetry=self.telemetry, revocations=self.revocations,
            issuers=self.issuers.for_policies(namespace, engine.model),
        )  # fmt: skip
        self._authorizers[id(engine)] = (engine, authorizer)
        return authorizer

    def handle(self, event: object) -> dict[str, Any]:
        started = time.perf_counter()
        request: Request | None = None
        try:
            if self.tenant_claim is None:
                return self.authorizer(self.bundle("").engine()).handle(event)
            request = parse_event(event)
            claims = self.verified(bearer_token(request))
            tenant = self.tenant_of(claims)
            try:
                engine = self.bundle(tenant).engine()
            except BundleMissing:
                return self._no_bundle(request, claims, tenant, started)
        except Exception as error:  # a bundle that cannot be had, a token refused up front
            if status_of(error) == UNAUTHORIZED:
                reason = error.reason if isinstance(error, InvalidToken) else "unauthorized"
                self._log("Unauthorized", started, request, reason, str(error))
                unauthorized()
            self._log("Error", started, request, "bundle", str(error))
            raise
        return self.authorizer(engine).handle(event)

    def verified(self, token: str) -> Mapping[str, Any]:
        """The claims of a token verified and not revoked (401 / 500 otherwise)."""
        claims = self._claims.get(token)
        if claims is None:
            claims = self.issuers.verify(token).claims
            self._claims[token] = claims
        if self.revocations is not None:
            self.revocations.check(claims)
        return claims

    def tenant_of(self, claims: Mapping[str, Any]) -> str:
        """The tenant claim: a safe name (it becomes part of a bundle's key), or 401."""
        tenant = claims.get(self.tenant_claim) if self.tenant_claim else None
        if not isinstance(tenant, str) or not SAFE_TENANT.match(tenant):
            raise InvalidToken("bad_tenant", f"{self.tenant_claim} is missing or not a safe name")
        return tenant

    def _no_bundle(
        self, request: Request, claims: Mapping[str, Any], tenant: str, started: float
    ) -> dict[str, Any]:
        """A tenant with no bundle: denied, and said so in the log."""
        principal = self.issuers.mapping_of(claims).principal_uid(claims)["id"]
        self.telemetry.decision(
            outcome="Deny", latency_ms=(time.perf_counter() - started) * 1000, cache="none",
            principal=principal, errors=(f"tenant {tenant!r} has no policy bundle",),
            event_kind=request.kind.value,
        )  # fmt: skip
        context = flat_context({"principal": principal, "sub": claims.get("sub"),
                                "tenant": tenant})  # fmt: skip
        if request.kind is EventKind.HTTP_V2 and self.settings.http_simple_responses:
            return simple_response(False, context)
        return iam_policy(principal, "Deny", [request.arn], context)

    def _refused(self, url: str, why: str) -> None:
        logger.error("policy bundle %s refused, the last good one serves: %s", url, why[:500])
        self.telemetry.bundle_refused(url, why)

    def _log(
        self, outcome: str, started: float, request: Request | None, reason: str, detail: str
    ) -> None:
        self.telemetry.decision(
            outcome=outcome, latency_ms=(time.perf_counter() - started) * 1000, cache="none",
            reason=reason, errors=(detail[:300],) if detail else (),
            event_kind=request.kind.value if request else None,
        )  # fmt: skip


def _until_exp(_key: str, claims: Mapping[str, Any], _now: float) -> float:
    return float(claims["exp"])  # verified: a number


class Handles(Protocol):
    def handle(self, event: object) -> dict[str, Any]: ...


def authorizer_from_env(
    environ: Mapping[str, str] | None = None,
    fetch: Fetch = http_fetch,
    clock: Clock = time.time,
) -> Handles:
    """The Lambda's authorizer: over policy bundles when CEDAR_POLICY_BUNDLE is set, else over
    the packaged policy folder."""
    settings = Settings.from_env(environ)
    if settings.bundle.url is not None:
        return LiveAuthorizer(settings, fetch, clock)
    return Authorizer.from_env(environ, fetch, clock)
