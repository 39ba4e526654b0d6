"""Authorizer responses (pure builders, Powertools' model).

REST and HTTP API 1.0 take an IAM policy; HTTP API 2.0 with simple responses takes
``{"isAuthorized": ..., "context": ...}``. Context values must be strings, numbers or booleans.
A 401 is not a response: API Gateway wants ``raise Exception("Unauthorized")``.
"""

from __future__ import annotations

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


def simple_response(allowed: bool, context: Mapping[str, ContextValue]) -> dict[str, Any]:
    return {"isAuthorized": allowed, "context": dict(context)}


def flat_context(values: Mapping[str, object]) -> dict[str, ContextValue]:
    """Keep what API Gateway accepts: drop None, join lists, refuse nested objects."""
    out: dict[str, ContextValue] = {}
    for key, value in values.items():
        if isinstance(value, str | int | float | bool):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[key] = ",".join(value)
    return out


def unauthorized() -> NoReturn:
    """The exact exception text API Gateway turns into a 401."""
    raise Exception("Unauthorized")  # the contract is this exact exception
