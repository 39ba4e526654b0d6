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
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cachetools import LRUCache, TLRUCache

from authorizer.cedar.bundle_source import (
    BundleMissing,
    BundleSource,
    BundleUnavailable,
    LiveBundle,
    bundle_source,
)
from authorizer.cedar.engine import Engine
from authorizer.config import TENANT_PLACEHOLDER, Settings
from authorizer.errors import (
    UNAUTHORIZED,
    ConfigError,
    DependencyError,
    InvalidToken,
    Unauthorized,
    status_of,
)
from authorizer.gateway.events import EventKind, Request, bearer_token, parse_event
from authorizer.gateway.response import flat_context, iam_policy, simple_response, unauthorized
from authorizer.identity.fetch import Fetch, http_fetch
from authorizer.identity.issuers import IssuerRegistry
from authorizer.identity.revocation import revocation_list
from authorizer.identity.tokens import VerifiedToken
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
# Matched whole (``fullmatch``: `$` would let a trailing newline through, which URL parsing then
# strips, handing "acme\n" acme's bundle). "." and ".." are names of folders, not tenants.
SAFE_TENANT = re.compile(r"(?!\.{1,2}\Z)[A-Za-z0-9._-]{1,64}")
VERSIONS_KEPT = 2  # per bundle: the current one and the one requests in flight may still hold


class LiveAuthorizer:
    def __init__(
        self,
        settings: Settings,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
        telemetry: Telemetry | None = None,
        sources: Callable[[str], BundleSource] | None = None,
        pipeline: type[Authorizer] = Authorizer,
    ) -> None:
        """``pipeline``: the class of each version's authorizer (the backend library's adds its
        entry points to the Lambda's)."""
        bundle = settings.bundle
        # Each issuer's bundle: its own, else CEDAR_POLICY_BUNDLE, else (None) the packaged folder.
        self._urls = {i.issuer: i.policy_bundle or bundle.url for i in settings.trusted_issuers}
        urls = {url for url in self._urls.values() if url is not None}
        if not urls:
            raise ConfigError(
                "no policy bundle: set CEDAR_POLICY_BUNDLE or an issuer's policy_bundle"
            )
        if settings.store.table:
            raise ConfigError("ENTITY_STORE_TABLE with a policy bundle: a bundle carries its "
                              "entities (CEDAR_ENTITIES' part); unset one of them")  # fmt: skip
        per_tenant = {url for url in urls if TENANT_PLACEHOLDER in url}
        if per_tenant and bundle.tenant_claim is None:
            raise ConfigError("a policy bundle has {tenant}: set CEDAR_TENANT_CLAIM too")
        if bundle.tenant_claim is not None and not per_tenant:
            raise ConfigError("CEDAR_TENANT_CLAIM needs {tenant} in a policy bundle's URL")
        self.settings, self.clock = settings, clock
        self.telemetry = telemetry or Telemetry()
        self._sources = sources or (lambda url: bundle_source(url, settings.aws))
        self.tenant_claim = bundle.tenant_claim
        # The issuers' keys and verifiers, and the revocation list, shared by every version.
        self.issuers = IssuerRegistry.build(settings, "", None, fetch, clock)
        self.revocations = revocation_list(settings.revocation, settings.aws, clock)
        self._fetch, self._pipeline = fetch, pipeline
        # The bundle a request needs is known before any token is read when there is one for
        # everyone: no up-front verification then.
        self._one_url = next(iter(urls)) if len(set(self._urls.values())) == 1 and not per_tenant \
            else None  # fmt: skip
        # Tokens verified once: here to pick the bundle, then by the pipeline that decides.
        self._verified = VerifiedOnce(self.issuers, clock)
        # The packaged folder, for issuers without a bundle when others have one.
        self._folder: Authorizer | None = None
        if None in self._urls.values():
            self._folder = pipeline.from_settings(settings, fetch, clock)
            self._folder.telemetry = self.telemetry
            self._folder.verifier = self._verified
        # Per bundle URL: its LiveBundle; per engine: its Authorizer. cachetools' caches are not
        # thread-safe, and a backend's front may serve several threads: one lock for both.
        self._lock = threading.Lock()
        kept = bundle.tenants_max + len(urls - per_tenant)
        # Tenants' bundles come and go (LRU); the issuers' fixed ones stay for the process's
        # life: evicted by tenants, a fixed bundle was rebuilt from its source, losing the last
        # good version that serves while the source is damaged.
        self._bundles: LRUCache[str, LiveBundle] = LRUCache(bundle.tenants_max)
        self._fixed: dict[str, LiveBundle] = {}
        self._authorizers: LRUCache[int, tuple[Engine, Authorizer]] = LRUCache(VERSIONS_KEPT * kept)
        self._fixed_urls = urls - per_tenant
        # The pipeline asked for last (the current version's, with one bundle), read without
        # the lock: one attribute holding both, replaced whole.
        self._last: tuple[Engine, Authorizer] | None = None
        for url in self._fixed_urls:
            self.bundle(url).engine()  # a cold start with no good bundle fails here: 500
        # With one bundle for everyone: it, without a lookup per request.
        self._one = self.bundle(self._one_url) if self._one_url is not None else None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
    ) -> LiveAuthorizer:
        return cls(Settings.from_env(environ), fetch, clock)

    def bundle(self, url: str) -> LiveBundle:
        """The live bundle at ``url`` (its ``{tenant}`` filled in)."""
        with self._lock:
            fixed = url in self._fixed_urls
            found = self._fixed.get(url) if fixed else self._bundles.get(url)
            if found is None:
                # A tenant's bundle deleted is a tenant offboarded: denied, not served from memory.
                found = LiveBundle(
                    self._sources(url), self.settings.bundle.refresh_seconds, self.clock,
                    on_refused=self._refused, gone_means_none=not fixed, accept=self.authorizer,
                )  # fmt: skip
                if fixed:
                    self._fixed[url] = found
                else:
                    self._bundles[url] = found
            return found

    def authorizer(self, engine: Engine) -> Authorizer:
        """The pipeline of one bundle version, built once (two threads asking for a new one at
        once may both build it: either serves)."""
        last = self._last
        if last is not None and last[0] is engine:
            return last[1]
        with self._lock:
            found = self._authorizers.get(id(engine))
        if found is not None and found[0] is engine:
            self._last = found
            return found[1]
        engine.validate_requests = self.settings.validate_requests
        namespace = self.settings.namespace
        if namespace is None:
            namespace = engine.model.default_namespace if engine.model else ""
        authorizer = self._pipeline(
            self.settings, engine, fetch=self._fetch, clock=self.clock,
            telemetry=self.telemetry, revocations=self.revocations,
            issuers=self.issuers.for_policies(namespace, engine.model),
        )  # fmt: skip
        authorizer.verifier = self._verified
        with self._lock:
            self._authorizers[id(engine)] = self._last = (engine, authorizer)
        return authorizer

    @property
    def one_bundle(self) -> bool:
        """One bundle decides for every caller (no tenant's or issuer's own)."""
        return self._one_url is not None

    def current(self) -> Authorizer:
        """With ``one_bundle``: the pipeline of its current version (re-checked when due)."""
        if self._one is None:
            raise ConfigError("bundles per tenant or issuer: the token says which one decides")
        return self.authorizer(self._one.engine())

    def pipeline_for(self, claims: Mapping[str, Any] | None) -> Authorizer:
        """The pipeline deciding for a caller with these claims, as ``handle`` picks it: the
        current version of its issuer's (and tenant's) bundle, or the packaged folder's. A
        tenant without a bundle: ``BundleMissing``. Claims given by a backend, not a token: an
        ``iss`` that names no trusted issuer is refused (with one issuer it may be left out)."""
        if self._one_url is not None:
            return self.current()
        if claims is None:
            raise ConfigError(
                "bundles per tenant or issuer: give the caller's token or claims, which say "
                "which bundle decides"
            )
        if claims.get("iss") is None and len(self._urls) == 1:
            claims = {**claims, "iss": next(iter(self._urls))}
        if claims.get("iss") not in self._urls:
            raise ValueError("the claims' iss names no trusted issuer")
        url = self.url_of(claims)
        if url is None:
            assert self._folder is not None  # built for every issuer without a bundle
            return self._folder
        return self.authorizer(self.bundle(url).engine())

    def bundle_url(self, tenant: str, issuer: str | None = None) -> str:
        """The URL of ``tenant``'s bundle (at ``issuer``, or the first issuer)."""
        url = self._urls[issuer if issuer is not None else next(iter(self._urls))]
        if url is None:
            raise ConfigError("that issuer's tokens are decided by the packaged folder")
        return url.replace(TENANT_PLACEHOLDER, tenant)

    def url_of(self, claims: Mapping[str, Any]) -> str | None:
        """The bundle that decides for these verified claims: their issuer's (None: the packaged
        folder), with the tenant claim in place of ``{tenant}``."""
        url = self._urls.get(claims.get("iss"))  # type: ignore[arg-type]  # verified: a string
        if url is None or TENANT_PLACEHOLDER not in url:
            return url
        return self.bundle_url(self.tenant_of(claims), claims["iss"])

    def handle(self, event: object) -> dict[str, Any]:
        started = time.perf_counter()
        request: Request | None = None
        try:
            if self._one_url is not None:  # one bundle for every caller: nothing to read first
                pipeline = self.current()
            else:
                request = parse_event(event)
                claims = self.verified(bearer_token(request))
                url = self.url_of(claims)
                if url is None:
                    assert self._folder is not None  # built for every issuer without a bundle
                    pipeline = self._folder
                else:
                    try:
                        pipeline = self.authorizer(self.bundle(url).engine())
                    except BundleMissing:
                        return self._no_bundle(request, claims, url, started)
        except Exception as error:  # a bundle that cannot be had, a token refused up front
            if status_of(error) == UNAUTHORIZED and isinstance(error, Unauthorized):
                self._log("Unauthorized", started, request, error.reason, error.detail)
                unauthorized()
            # As the pipeline logs its failures: a bundle that cannot be had is named so, another
            # dependency (the revocation table, a key set) is one, anything else a bug.
            if isinstance(error, BundleUnavailable):
                self._log("Error", started, request, "bundle", str(error))
            elif isinstance(error, DependencyError):
                self._log("Error", started, request, "dependency", str(error))
            else:
                logger.exception("the policy bundle layer failed")
                self._log("Error", started, request, "internal", repr(error))
            raise
        # Outside the handler above: the pipeline logs its own answer, refusal or failure once.
        return pipeline.handle(event, request)

    def verified(self, token: str) -> Mapping[str, Any]:
        """The claims of a token verified and not revoked (401 / 500 otherwise)."""
        claims = self._verified.verify(token).claims
        if self.revocations is not None:
            self.revocations.check(claims)
        return claims

    def tenant_of(self, claims: Mapping[str, Any]) -> str:
        """The tenant claim: a safe name (it becomes part of a bundle's key), or 401."""
        tenant = claims.get(self.tenant_claim) if self.tenant_claim else None
        if not isinstance(tenant, str) or not SAFE_TENANT.fullmatch(tenant):
            raise InvalidToken("bad_tenant", f"{self.tenant_claim} is missing or not a safe name")
        return tenant

    def _no_bundle(
        self, request: Request, claims: Mapping[str, Any], url: str, started: float
    ) -> dict[str, Any]:
        """A tenant with no bundle: denied, and said so in the log."""
        tenant = claims.get(self.tenant_claim) if self.tenant_claim else None
        principal = self.issuers.mapping_of(claims).principal_uid(claims)["id"]
        self.telemetry.decision(
            outcome="Deny", latency_ms=(time.perf_counter() - started) * 1000, cache="none",
            principal=principal, errors=(f"no policy bundle at {url}",),
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


class VerifiedOnce:
    """The verifier of the bundle layer and of every pipeline under it: a fresh token is
    verified once, though the layer needs its claims to pick the bundle before the pipeline
    decides with them. Kept until the token's `exp`, as each pipeline keeps its callers (a
    revoked token is refused by the revocation check both make on every request)."""

    def __init__(self, issuers: IssuerRegistry, clock: Clock) -> None:
        self._issuers = issuers
        self._tokens: TLRUCache[str, VerifiedToken] = TLRUCache(10_000, _until_exp, timer=clock)
        self._lock = threading.Lock()  # the cache's, not held while a token is verified

    def verify(self, token: str) -> VerifiedToken:
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            found = self._issuers.verify(token)
            with self._lock:
                self._tokens[token] = found
        return found


def _until_exp(_key: str, verified: VerifiedToken, _now: float) -> float:
    return float(verified.claims["exp"])  # verified: a number
