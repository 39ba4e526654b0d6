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
Outcome = Literal["allow", "deny", "implicit-deny"]


class MalformedAnswer(ValueError):
    """An authorizer answer API Gateway would reject (it answers 500)."""


Effect = Literal["Allow", "Deny"]


def iam_policy(
    principal_id: str,
    effect: Effect,
    resources: Sequence[str],
    context: Mapping[str, ContextValue],
) -> dict[str, Any]:
    """One statement: ``effect`` on ``resources``."""
    allow, deny = (resources, ()) if effect == "Allow" else ((), resources)
    return iam_policy_statements(principal_id, allow, deny, context)


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
    """API Gateway's reading of an authorizer's IAM policy for one method ARN."""
    return policy_outcome(response.get("policyDocument"), arn) == "allow"


def policy_outcome(document: object, arn: str) -> Outcome:
    """An explicit Deny covering ``arn`` wins; otherwise an Allow covering it; otherwise no
    statement covers the ARN (API Gateway answers 403 without "explicit deny")."""
    if not isinstance(document, Mapping):
        raise MalformedAnswer("no policyDocument")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedAnswer("policyDocument has no Statement")
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedAnswer("a statement has no Effect Allow or Deny")
        actions = _patterns(statement.get("Action"), "Action")
        if not any(resource_matches(a.lower(), "execute-api:invoke") for a in actions):
            continue
        if not any(
            resource_matches(r, arn) for r in _patterns(statement.get("Resource"), "Resource")
        ):
            continue
        if statement["Effect"] == "Deny":
            return "deny"
        allowed = True
    return "allow" if allowed else "implicit-deny"


def _patterns(value: object, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise MalformedAnswer(f"{name} is not a string or a list of strings")
    return list(items)


def resource_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: `*` is any run of characters (`/` included), `?` one character."""
    return wildcard_regex(pattern).fullmatch(arn) is not None


@functools.lru_cache(maxsize=4096)
def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """An IAM resource pattern as a regex, compiled once per pattern (an API has few)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL)


def simple_response(allowed: bool, context: Mapping[str, ContextValue]) -> dict[str, Any]:
    return {"isAuthorized": allowed, "context": dict(context)}


def flat_context(values: Mapping[str, object]) -> dict[str, ContextValue]:
    """Keep what API Gateway accepts: drop None, join lists, refuse nested objects."""
    out: dict[str, ContextValue] = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            continue  # NaN and infinities are not JSON: API Gateway would answer 500
        if isinstance(value, (str, int, float, bool)):  # a tuple: faster than a union
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            out[key] = ",".join(value)
    return out


def unauthorized() -> NoReturn:
    """The exact exception text API Gateway turns into a 401."""
    raise Exception("Unauthorized")  # the contract is this exact exception
