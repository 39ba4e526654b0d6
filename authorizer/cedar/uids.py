"""Cedar entity UIDs as users write them: ``Corp::User::"alice"`` (the Cedar CLI's form in
requests and template links) or ``{"type": ..., "id": ...}`` (the JSON form, also under
``__entity``). Cedar itself parses the text form, so escapes and spacing follow its grammar."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import cedarpy

from authorizer.cedar.policies import nesting_problem

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


# The plain form, ``Name::Name::"id"`` with no escape, no space and no reserved word, read
# without asking Cedar (a Cedar parse per UID cost ~75 us: 100,000 template links, 15 s);
# anything else goes to Cedar. tests/test_links_scale.py checks both agree.
_PLAIN = re.compile(r'((?:[A-Za-z_][A-Za-z0-9_]*::)+)"([^"\\\x00-\x1f\x7f]*)"')
_RESERVED = frozenset({"true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"})


def _parse_text(text: str) -> Uid:
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        names = plain.group(1)[:-2].split("::")
        if not _RESERVED.intersection(names):
            return {"type": "::".join(names), "id": plain.group(2)}
    # Cedar parses the UID inside a policy scope; anything that changes the policy's shape (a
    # quote closing early, a comment) is refused below, so the text cannot smuggle syntax in,
    # nor (first) syntax nested deep enough to overflow Cedar's parser.
    deep = nesting_problem(text)
    if deep is not None:
        raise UidError(f"not a single entity UID: {deep}")
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
