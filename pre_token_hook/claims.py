"""Pure claim logic: name guards, value typing, item -> claims mapping, groups, size budget.

Nothing here does I/O or reads the environment; every function is deterministic in its inputs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from pre_token_hook.errors import AttributesUnavailable

TokenKind = Literal["id", "access"]
TOKEN_KINDS: tuple[TokenKind, ...] = ("id", "access")

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

# Cognito refuses to change these (developer guide, "Pre token generation Lambda trigger"), in the
# ID token and, for the last group, in the access token. Suppressing or overriding one fails the
# sign-in or is silently ignored: either way the hook must never emit them.
PROTECTED_CLAIMS: frozenset[str] = frozenset(
    {
        "acr", "amr", "aud", "at_hash", "auth_time", "azp", "cognito:username", "exp", "iat",
        "identities", "iss", "jti", "nbf", "nonce", "origin_jti", "sub", "token_use",
        "client_id", "username", "event_id", "version", "device_key", "scope",
    }
)  # fmt: skip
# `cognito:*` is Cognito's namespace (groups, roles, username...); `dev:*` are developer-only
# attributes Cognito will not write into tokens.
RESERVED_PREFIXES: tuple[str, ...] = ("cognito:", "dev:")
# Claims with these exact names break consumers that map claims AVP-style (`custom:x` claims and a
# `custom` claim collide in the principal's attributes; likewise `cognito`, `dev`).
RESERVED_NAMES: frozenset[str] = frozenset({"cognito", "dev", "custom"})
# In the ID token Cognito accepts only scalar values for these standard claims.
SCALAR_ONLY_ID_CLAIMS: frozenset[str] = frozenset(
    {"phone_number_verified", "email_verified", "updated_at", "address"}
)


def claim_name_problem(name: str) -> str | None:
    """Why ``name`` may never be emitted as a claim, or None if it may.

    Compared case-insensitively: stricter than Cognito, never looser.
    """
    folded = name.casefold()
    if not name.strip():
        return "empty_name"
    if folded in PROTECTED_CLAIMS:
        return "protected_claim"
    if folded in RESERVED_NAMES:
        return "reserved_name"
    if folded.startswith(RESERVED_PREFIXES):
        return "reserved_prefix"
    return None


@dataclass(frozen=True)
class Drop:
    """A claim the hook did not emit, and why (logged by name, never by value)."""

    claim: str
    token: TokenKind
    reason: str
    size_bytes: int | None = None

    def as_log(self) -> dict[str, object]:
        entry: dict[str, object] = {"claim": self.claim, "token": self.token, "reason": self.reason}
        if self.size_bytes is not None:
            entry["size_bytes"] = self.size_bytes
        return entry


@dataclass(frozen=True)
class ClaimRule:
    """One entry of ``CLAIM_MAPPING``: item attribute -> claim name, in these tokens."""

    attribute: str
    claim: str
    tokens: frozenset[TokenKind]


class UnsupportedValue(ValueError):
    """An attribute value with no JSON claim form (binary, NaN, unknown type)."""


# --- value typing ---------------------------------------------------------------------------


def _number(value: Decimal | int | float) -> int | float:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnsupportedValue("non-finite number")
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsupportedValue("non-finite number")
        return int(value) if value.is_integer() else value
    return value


def _sorted_set(values: Iterable[Any]) -> list[JsonValue]:
    items = list(values)
    if all(isinstance(v, (Decimal, int, float)) and not isinstance(v, bool) for v in items):
        return list(sorted(_number(v) for v in items))
    if all(isinstance(v, str) for v in items):
        return sorted(items)
    converted = [to_claim_value(v) for v in items]
    return sorted(converted, key=lambda v: json.dumps(v, sort_keys=True))


def to_claim_value(value: Any) -> JsonValue:
    """The typed (V2/V3) claim value of a DynamoDB attribute value.

    Decimal -> int when integral, else float; SS/NS (Python sets) -> sorted lists; lists and maps
    recursively; bool and str as they are. Binary or non-finite numbers raise UnsupportedValue.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (Decimal, int, float)):
        return _number(value)
    if isinstance(value, (set, frozenset)):
        return _sorted_set(value)
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsupportedValue("map key is not a string")
            out[key] = to_claim_value(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_claim_value(v) for v in value]
    raise UnsupportedValue(f"unsupported type {type(value).__name__}")


def compact_json(value: JsonValue) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def v1_string(value: JsonValue) -> str:
    """V1 claims are strings: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else compact_json(value)


# --- item -> claims ---------------------------------------------------------------------------


def default_rules(item: Mapping[str, Any], excluded: Iterable[str]) -> tuple[ClaimRule, ...]:
    """Without ``CLAIM_MAPPING``: every attribute but the excluded ones, same name, both tokens."""
    skip = set(excluded)
    both = frozenset(TOKEN_KINDS)
    return tuple(ClaimRule(name, name, both) for name in item if name not in skip)


def map_item(
    item: Mapping[str, Any],
    rules: Sequence[ClaimRule],
    tokens: Sequence[TokenKind],
) -> tuple[dict[TokenKind, dict[str, JsonValue]], list[Drop]]:
    """Claims per token from one item; attributes that cannot become claims are dropped.

    Rules for attributes the item does not hold are ignored (a user simply lacks them).
    """
    claims: dict[TokenKind, dict[str, JsonValue]] = {t: {} for t in tokens}
    drops: list[Drop] = []
    for rule in rules:
        if rule.attribute not in item:
            continue
        targets = [t for t in tokens if t in rule.tokens]
        if not targets:
            continue
        problem = claim_name_problem(rule.claim)
        try:
            value = to_claim_value(item[rule.attribute])
        except UnsupportedValue:
            problem = problem or "unsupported_type"
            value = None
        if problem is None and value is None:
            problem = "null_value"
        for token in targets:
            reason = problem
            if (
                reason is None
                and token == "id"
                and rule.claim in SCALAR_ONLY_ID_CLAIMS
                and isinstance(value, (list, dict))
            ):
                reason = "complex_value_not_allowed"
            if reason is None:
                claims[token][rule.claim] = value
            else:
                drops.append(Drop(rule.claim, token, reason))
    return claims, drops


def guard_claims(
    claims: Mapping[str, Any], token: TokenKind
) -> tuple[dict[str, JsonValue], list[Drop]]:
    """Keep the claims that may be emitted (typed); drop the others with a reason."""
    kept: dict[str, JsonValue] = {}
    drops: list[Drop] = []
    for name, raw in claims.items():
        problem = claim_name_problem(name)
        value: JsonValue = None
        if problem is None:
            try:
                value = to_claim_value(raw)
            except UnsupportedValue:
                problem = "unsupported_type"
        if problem is None and value is None:
            problem = "null_value"
        if problem is None:
            kept[name] = value
        else:
            drops.append(Drop(name, token, problem))
    return kept, drops


# --- groups -----------------------------------------------------------------------------------


def item_groups(item: Mapping[str, Any], attribute: str | None) -> list[str] | None:
    """Group names the item holds, or None when it says nothing about groups.

    A groups attribute that is not a list or set of non-empty strings makes the item malformed:
    groups decide authorization, so a half-read value must not silently pass.
    """
    if not attribute or attribute not in item:
        return None
    raw = item[attribute]
    if isinstance(raw, (set, frozenset)):
        raw = sorted(raw) if all(isinstance(g, str) for g in raw) else None
    if not isinstance(raw, (list, tuple)) or not all(isinstance(g, str) and g for g in raw):
        raise AttributesUnavailable(
            "malformed_item", f"attribute {attribute!r} is not a list of group names"
        )
    return dedupe(raw)


def dedupe(values: Iterable[str]) -> list[str]:
    """Values without repeats, first occurrence kept, order kept."""
    return list(dict.fromkeys(values))


def merge_groups(
    current: Sequence[str], from_item: Sequence[str], mode: Literal["extend", "override"]
) -> list[str]:
    """``extend``: current groups then the item's, de-duplicated; ``override``: the item's."""
    if mode == "override":
        return dedupe(from_item)
    return dedupe([*current, *from_item])


# --- size budget ------------------------------------------------------------------------------


def _member_size(name: str, value: JsonValue) -> int:
    """Bytes of ``"name":value`` in the compact UTF-8 serialization of the claims object."""
    return len(compact_json({name: value}).encode("utf-8")) - 2


def claims_size(claims: Mapping[str, JsonValue]) -> int:
    """Bytes of the compact UTF-8 JSON object holding ``claims``."""
    return len(compact_json(dict(claims)).encode("utf-8"))


def apply_budget(
    claims: Mapping[str, JsonValue], budget: int, token: TokenKind
) -> tuple[dict[str, JsonValue], list[Drop]]:
    """Drop claims until the serialized object fits ``budget`` bytes.

    Deterministic: the largest claim (by serialized ``"name":value`` bytes) goes first, ties by
    name; the result does not depend on the input's order.
    """
    sizes = {name: _member_size(name, value) for name, value in claims.items()}
    total = 2 + sum(sizes.values()) + max(len(sizes) - 1, 0)
    if total <= budget:
        return dict(claims), []
    drops: list[Drop] = []
    dropped: set[str] = set()
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        if total <= budget:
            break
        dropped.add(name)
        remaining = len(sizes) - len(dropped)
        total -= sizes[name] + (1 if remaining > 0 else 0)
        drops.append(Drop(name, token, "token_budget", sizes[name]))
    return {n: v for n, v in claims.items() if n not in dropped}, drops
