"""The sample application's users: the claims the pre-token hook adds from DynamoDB at sign-in
(tenant, department, permissions, roles, dailyLimit) and their Cognito groups."""

from __future__ import annotations

from typing import Any

SAMPLE_USERS: dict[str, dict[str, Any]] = {
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


def split_profile(name: str) -> tuple[list[str], dict[str, Any]]:
    """(groups, other claims) of a sample user; KeyError names the known users."""
    if name not in SAMPLE_USERS:
        raise KeyError(f"unknown sample user {name!r}; known: {', '.join(sorted(SAMPLE_USERS))}")
    profile = dict(SAMPLE_USERS[name])
    return list(profile.pop("groups")), profile
