"""Small helpers shared by the tests: run an event through the real handler, read the answer."""

from __future__ import annotations

from typing import Any

from authorizer.local import apigw
from authorizer.local.issuer import LocalIssuer
from authorizer.pdp import Authorizer

# The sample application's users, as the pre-token hook would have enriched their tokens.
USERS: dict[str, dict[str, Any]] = {
    "alice": {"groups": ["engineering"], "tenant": "acme", "department": "engineering",
              "permissions": ["employee:read"]},
    "hank": {"groups": ["hr-engineering"], "tenant": "acme", "department": "hr"},
    "paula": {"groups": ["hr-engineering-payroll"], "tenant": "acme", "department": "hr"},
    "harriet": {"groups": ["hr-finance"], "tenant": "acme", "department": "hr"},
    "auditor-0001": {"groups": [], "tenant": "acme", "department": "audit"},
    "fiona": {"groups": [], "tenant": "acme", "department": "finance",
              "permissions": ["invoices:view"], "roles": ["viewer"]},
    "eddie": {"groups": [], "tenant": "acme", "department": "finance",
              "permissions": ["invoices:view", "invoices:edit", "reports:export"]},
    "adam": {"groups": ["admins"], "tenant": "acme", "department": "it"},
    "pat": {"groups": ["payment-initiators"], "tenant": "acme", "department": "finance",
            "dailyLimit": 5000},
    "mallory": {"groups": ["admins", "payment-initiators", "hr", "engineering"], "tenant": "globex",
                "department": "finance", "permissions": ["employee:read", "invoices:view",
                "invoices:edit", "reports:export"], "roles": ["admin"], "dailyLimit": 1000000},
}  # fmt: skip


def user_token(issuer: LocalIssuer, name: str, now: float, **overrides: Any) -> str:
    profile = dict(USERS[name])
    groups = profile.pop("groups")
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
