"""The authorizer as a backend uses it: the gateway's pipeline (``authorizer.pdp``) plus the
backend API's entry points, so the data layer decides with the same policies, keys and caches.

``from authorizer import Authorizer`` gives this class; the Lambda uses ``authorizer.pdp`` alone
(neither this module nor ``api`` is in its package). Each method is a thin entry point: the logic
is in ``authorizer.sdk.api`` and ``authorizer.sdk.redaction``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from authorizer import pdp
from authorizer.cedar.engine import Decision
from authorizer.config import Settings
from authorizer.gateway.events import Request
from authorizer.identity.fetch import Fetch, http_fetch
from authorizer.sdk import api, redaction

if TYPE_CHECKING:
    from authorizer.live import LiveAuthorizer


class Authorizer(pdp.Authorizer):
    # With a policy bundle: the bundle followed (``from_env``); None: the packaged folder.
    _live: LiveAuthorizer | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        fetch: Fetch = http_fetch,
        clock: pdp.Clock = time.time,
    ) -> Self:
        """The gateway's own configuration. With policy bundles the backend follows them as the
        Lambda does: every call is decided by the current version (re-checked at most every
        ``CEDAR_POLICY_REFRESH_SECONDS``) of the bundle that decides for the caller (one for
        everyone, or its issuer's and tenant's, found from its token or claims), so the data
        layer never decides with other policies than the gateway."""
        settings = Settings.from_env(environ)
        if not settings.uses_bundles:
            return cls.from_settings(settings, fetch, clock)
        from authorizer.live import LiveAuthorizer  # noqa: PLC0415  # only with a bundle

        live = LiveAuthorizer(settings, fetch, clock, pipeline=cls)
        # No policies of its own: each call goes to the pipeline deciding for its caller
        # (``current``), one per bundle version, built by ``live`` as this class.
        front = cls.__new__(cls)
        front.settings, front.clock, front.issuers = settings, clock, live.issuers
        front.telemetry = live.telemetry
        front._live = live
        return front

    def __getattr__(self, name: str) -> Any:
        """Only for what normal lookup does not find, so only on a front following bundles
        (``from_env``), which holds no pipeline of its own: with one bundle, what the current
        version's pipeline holds (``engine``, ``routes``, ``mapping``...); per tenant or issuer,
        which pipeline is meant depends on the caller, and the error says how to ask."""
        live = self.__dict__.get("_live")
        if live is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if live.one_bundle:
            return getattr(self.current(), name)
        raise AttributeError(
            f"{name!r}: this Authorizer follows a policy bundle per tenant or issuer, and has no "
            f"pipeline of its own; current(claims).{name} is the one deciding for a caller"
        )

    def current(self, claims: Mapping[str, Any] | None = None) -> Authorizer:
        """The authorizer of the policies deciding now for a caller with ``claims``: the current
        version of its bundle (the refresh check is a clock comparison until it is due), or this
        one without bundles. Bundles per tenant or issuer need the claims (ConfigError)."""
        if self._live is None:
            return self
        found = self._live.pipeline_for(claims)
        if not isinstance(found, Authorizer):
            raise TypeError(f"{type(found).__name__} is not the backend's Authorizer")
        return found

    def _for(self, principal: object, claims: Mapping[str, Any] | None = None) -> Authorizer:
        """``current`` for the caller ``principal`` names: its claims, given or read from it (a
        token is verified for them: a token of the wrong issuer or tenant never picks a
        bundle)."""
        if self._live is None:
            return self
        token = isinstance(principal, str) and "::" not in principal
        if claims is not None and (token or isinstance(principal, api.Subject | pdp.Caller)):
            raise ValueError("give the principal as a token or with claims, not both")
        if claims is None and not self._live.one_bundle:
            if isinstance(principal, api.Subject):
                claims = principal.claims
            elif isinstance(principal, pdp.Caller):
                claims = principal.token.claims
            elif isinstance(principal, str) and "::" not in principal:
                claims = self._live.verified(principal)
        return self.current(claims)

    def verify(self, token: str) -> pdp.Caller:
        if self._live is None:
            return super().verify(token)
        return self._for(token).verify(token)

    def handle(self, event: object, parsed: Request | None = None) -> dict[str, Any]:
        if self._live is None:
            return super().handle(event, parsed)
        return self._live.handle(event)

    def is_authorized(
        self,
        principal: api.PrincipalLike,
        action: api.ActionLike,
        resource: api.ResourceLike,
        context: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> Decision:
        """One Cedar decision (``authorizer.sdk.api``). ``principal``: a token, a UID (dict or
        ``Ns::Type::"id"``) or an entity dict; with ``claims``, its attributes and groups come
        from them. ``resource``: a UID, or the entity the backend loaded (its attributes then
        decide, not the store's). A live store reads the resource, and the principal without
        claims, per request."""
        current = self._for(principal, claims)
        return api.is_authorized(current, principal, action, resource, context, claims)

    def authorize_token(
        self,
        token: str,
        action: api.ActionLike,
        resource: api.ResourceLike | None,
        context: Mapping[str, Any] | None = None,
        resource_entity: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Verify ``token`` as the gateway does (``Unauthorized`` if it fails), then decide."""
        current = self._for(token)
        return api.authorize_token(current, token, action, resource, context, resource_entity)

    def decide_actions(
        self,
        principal: api.PrincipalLike,
        resource: api.ResourceLike,
        actions: Iterable[api.ActionLike],
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Decision]:
        """Each action's decision on ``resource``, in one cedarpy call."""
        return api.decide_actions(self._for(principal), principal, resource, actions, context)

    def allowed_actions(
        self,
        principal: api.PrincipalLike,
        resource: api.ResourceLike,
        actions: Iterable[api.ActionLike],
        context: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """The actions the principal may take on ``resource`` (show or hide a button)."""
        return api.allowed_actions(self._for(principal), principal, resource, actions, context)

    def decide_resources(
        self,
        principal: api.PrincipalLike,
        action: api.ActionLike,
        resources: Iterable[api.ResourceLike],
        context: Mapping[str, Any] | None = None,
    ) -> list[Decision]:
        """The action's decision on each resource, in one cedarpy call."""
        return api.decide_resources(self._for(principal), principal, action, resources, context)

    def allowed_resources(
        self,
        principal: api.PrincipalLike,
        action: api.ActionLike,
        resources: Iterable[api.ResourceLike],
        context: Mapping[str, Any] | None = None,
    ) -> list[api.ResourceLike]:
        """The resources (as given) the action is allowed on (filter a list)."""
        current = self._for(principal)
        return api.allowed_resources(current, principal, action, resources, context)

    def redact(
        self,
        documents: api.Document | Sequence[api.Document],
        principal: api.PrincipalLike,
        resources: api.ResourceOf,
        field_actions: api.FieldActions = None,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        """The documents without the fields whose view action is denied (``view_<path>``, or
        ``field_actions``: a map ``{path: action}`` or a list of paths), in one cedarpy call."""
        current = self._for(principal)
        return redaction.redact(current, documents, principal, resources, field_actions, context)
