"""The authorizer as a backend uses it: the gateway's pipeline (``authorizer.pdp``) plus the
backend API's entry points, so the data layer decides with the same policies, keys and caches.

``from authorizer import Authorizer`` gives this class; the Lambda uses ``authorizer.pdp`` alone
(neither this module nor ``api`` is in its package). Each method is a thin entry point: the logic
is in ``authorizer.sdk.api`` and ``authorizer.sdk.redaction``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from authorizer import pdp
from authorizer.cedar.engine import Decision
from authorizer.sdk import api, redaction


class Authorizer(pdp.Authorizer):
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
        return api.is_authorized(self, principal, action, resource, context, claims)

    def authorize_token(
        self,
        token: str,
        action: api.ActionLike,
        resource: api.ResourceLike | None,
        context: Mapping[str, Any] | None = None,
        resource_entity: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Verify ``token`` as the gateway does (``Unauthorized`` if it fails), then decide."""
        return api.authorize_token(self, token, action, resource, context, resource_entity)

    def decide_actions(
        self,
        principal: api.PrincipalLike,
        resource: api.ResourceLike,
        actions: Iterable[api.ActionLike],
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Decision]:
        """Each action's decision on ``resource``, in one cedarpy call."""
        return api.decide_actions(self, principal, resource, actions, context)

    def allowed_actions(
        self,
        principal: api.PrincipalLike,
        resource: api.ResourceLike,
        actions: Iterable[api.ActionLike],
        context: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """The actions the principal may take on ``resource`` (show or hide a button)."""
        return api.allowed_actions(self, principal, resource, actions, context)

    def decide_resources(
        self,
        principal: api.PrincipalLike,
        action: api.ActionLike,
        resources: Iterable[api.ResourceLike],
        context: Mapping[str, Any] | None = None,
    ) -> list[Decision]:
        """The action's decision on each resource, in one cedarpy call."""
        return api.decide_resources(self, principal, action, resources, context)

    def allowed_resources(
        self,
        principal: api.PrincipalLike,
        action: api.ActionLike,
        resources: Iterable[api.ResourceLike],
        context: Mapping[str, Any] | None = None,
    ) -> list[api.ResourceLike]:
        """The resources (as given) the action is allowed on (filter a list)."""
        return api.allowed_resources(self, principal, action, resources, context)

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
        return redaction.redact(self, documents, principal, resources, field_actions, context)
