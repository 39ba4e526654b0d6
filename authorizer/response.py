"""Authorizer responses (pure builders, Powertools' model).

REST and HTTP API 1.0 take an IAM policy; HTTP API 2.0 with simple responses takes
``{"isAuthorized": ..., "context": ...}``. Context values must be strings, numbers or booleans.
A 401 is not a response: API Gateway wants ``raise Exception("Unauthorized")``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn

ContextValue = str | int | float | bool
Effect = Literal["Allow", "Deny"]


def iam_policy(
    principal_id: str,
    effect: Effect,
    resources: Sequence[str],
    context: Mapping[str, ContextValue],
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": list(resources)}
            ],
        },
        "context": dict(context),
    }


def iam_policy_statements(
    principal_id: str,
    allow: Sequence[str],
    deny: Sequence[str],
    context: Mapping[str, ContextValue],
) -> dict[str, Any]:
    """One policy that answers for many routes: explicit denies win over allows in IAM."""
    statements = [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": list(resources)}
        for effect, resources in (("Allow", allow), ("Deny", deny))
        if resources
    ]
    return {
        "principalId": principal_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        "context": dict(context),
    }


def policy_allows(response: Mapping[str, Any], arn: str) -> bool:
    """API Gateway's reading of an authorizer's IAM policy for one method ARN: allowed when an
    Allow statement covers it and no Deny statement does (an explicit deny wins)."""
    effects = set()
    for statement in response["policyDocument"]["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions) and any(
            resource_matches(r, arn) for r in resources
        ):
            effects.add(statement["Effect"])
    return effects == {"Allow"}


def resource_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: `*` is any run of characters (`/` included), `?` one character."""
    return re.fullmatch(_wildcard_regex(pattern), arn) is not None


@functools.lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def simple_response(allowed: bool, context: Mapping[str, ContextValue]) -> dict[str, Any]:
    return {"isAuthorized": allowed, "context": dict(context)}


def flat_context(values: Mapping[str, object]) -> dict[str, ContextValue]:
    """Keep what API Gateway accepts: drop None, join lists, refuse nested objects."""
    out: dict[str, ContextValue] = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            continue  # NaN and infinities are not JSON: API Gateway would answer 500
        if isinstance(value, str | int | float | bool):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[key] = ",".join(value)
    return out


def unauthorized() -> NoReturn:
    """The exact exception text API Gateway turns into a 401."""
    raise Exception("Unauthorized")  # the contract is this exact exception
