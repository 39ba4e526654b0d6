"""Small helpers shared by the tests: run an event through the real handler, read the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from authorizer.cedar.engine import Decision
from authorizer.gateway.events import bearer_token, parse_event
from authorizer.gateway.response import policy_allows
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import SAMPLE_USERS, split_profile

USERS = SAMPLE_USERS
AuthorizerT = TypeVar("AuthorizerT", bound=Authorizer)


def user_token(issuer: LocalIssuer, name: str, now: float, **overrides: Any) -> str:
    groups, profile = split_profile(name)
    extra = {**profile, **overrides.pop("extra", {})}
    return issuer.token(name, groups=groups, extra=extra, now=now, **overrides)


def outcome(authz: Authorizer, event: dict[str, Any]) -> str:
    """'Allow', 'Deny' or '401', from the handler's real answer."""
    try:
        response = authz.handle(event)
    except Exception as error:
        if str(error) == "Unauthorized":
            return "401"
        raise
    if "isAuthorized" in response:
        return "Allow" if response["isAuthorized"] else "Deny"
    arn = event.get("methodArn") or event["routeArn"]
    return "Allow" if policy_allows(response, arn) else "Deny"


def decide(authz: Authorizer, event: dict[str, Any]) -> Decision:
    """The decision behind a handler's answer (determining policies and errors included)."""
    request = parse_event(event)
    return authz.decide(request, authz.verify(bearer_token(request))).decision


def rest(token: str | None, method: str, path: str, template: str, **kwargs: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return apigw.rest_request_event(method, path, template, headers=headers, **kwargs)


def fresh_app(
    folder: Path,
    issuer: LocalIssuer,
    jwks_url: str,
    clock: Callable[[], float],
    schema: str,
    policies: str,
    entities: list[dict[str, Any]] | None = None,
    kind: type[AuthorizerT] = Authorizer,  # type: ignore[assignment]  # the default is one
    **env: str,
) -> AuthorizerT:
    """An authorizer (``kind``: the backend library's, say) for an application of a test's own,
    configured as a user would (the environment variables of DESIGN §2): its policies, schema
    and entities written to ``folder``, tokens of ``issuer`` verified through the key set at
    ``jwks_url``."""
    (folder / "policies").mkdir(exist_ok=True)
    (folder / "policies" / "app.cedar").write_text(policies)
    (folder / "app.cedarschema").write_text(schema)
    if entities is not None:
        (folder / "entities.json").write_text(json.dumps(entities))
    settings = {
        "AUTH_ISSUER": issuer.issuer,
        "AUTH_JWKS_URL": jwks_url,
        "AUTH_CLIENT_IDS": issuer.client_id,
        "CEDAR_POLICY_DIR": str(folder / "policies"),
        "CEDAR_SCHEMA": str(folder / "app.cedarschema"),
        "CEDAR_ENTITIES": str(folder / "entities.json") if entities is not None else "none",
        "ENTITY_ID_PREFIX": "",
        **env,
    }
    return kind.from_env(settings, clock=clock)
