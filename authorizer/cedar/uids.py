"""Cedar entity UIDs as users write them: ``Corp::User::"alice"`` (the Cedar CLI's form in
requests and template links) or ``{"type": ..., "id": ...}`` (the JSON form, also under
``__entity``). Cedar itself parses the text form, so escapes and spacing follow its grammar."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import cedarpy

Uid = dict[str, str]


class UidError(ValueError):
    """The value is not an entity UID; the message says why in Cedar's words."""


def parse_uid(value: object) -> Uid:
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, Mapping):
        inner = value.get("__entity", value)
        if (
            isinstance(inner, Mapping)
            and isinstance(inner.get("type"), str)
            and isinstance(inner.get("id"), str)
            and inner["type"]
        ):
            return {"type": inner["type"], "id": inner["id"]}
    raise UidError(f'expected an entity UID such as `Type::"id"`, found {_short(value)}')


def uid_text(uid: Mapping[str, str]) -> str:
    return f"{uid['type']}::{json.dumps(uid['id'], ensure_ascii=False)}"


def _parse_text(text: str) -> Uid:
    # Cedar parses the UID inside a policy scope; anything that changes the policy's shape (a
    # quote closing early, a comment) is refused below, so the text cannot smuggle syntax in.
    try:
        document = json.loads(
            cedarpy.policies_to_json_str(f"permit(principal == {text}, action, resource);")
        )
    except ValueError as error:
        raise UidError(str(error)) from None
    policies = list(document.get("staticPolicies", {}).values())
    if len(policies) != 1 or document.get("templates"):
        raise UidError(f"not a single entity UID: {_short(text)}")
    policy: dict[str, Any] = policies[0]
    scope = policy.get("principal", {})
    others = (policy.get("action", {}).get("op"), policy.get("resource", {}).get("op"))
    if policy.get("conditions") or policy.get("annotations") or others != ("All", "All"):
        raise UidError(f"not a single entity UID: {_short(text)}")
    if scope.get("op") != "==":
        raise UidError(f"not a single entity UID: {_short(text)}")
    entity = scope.get("entity")
    if not isinstance(entity, dict):
        raise UidError(f"not a single entity UID: {_short(text)}")
    return {"type": str(entity["type"]), "id": str(entity["id"])}


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"`{text[:80]}{'...' if len(text) > 80 else ''}`"
