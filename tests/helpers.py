"""Small helpers shared by the tests: run an event through the real handler, read the answer."""

from __future__ import annotations

from typing import Any

from authorizer.local import apigw
from authorizer.local.issuer import LocalIssuer
from authorizer.local.users import SAMPLE_USERS, split_profile
from authorizer.pdp import Authorizer

USERS = SAMPLE_USERS


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
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def rest(token: str | None, method: str, path: str, template: str, **kwargs: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return apigw.rest_request_event(method, path, template, headers=headers, **kwargs)
