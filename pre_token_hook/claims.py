"""Pure claim logic: name guards, value typing, item -> claims mapping, groups, size budget.

Nothing here does I/O or reads the environment; every function is deterministic in its inputs.
The token limits are the authorizer's (``authorizer.limits``): a claim nested deeper than a
token may carry is dropped, a group list over them refuses the sign-in, never a group left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from authorizer.limits import (
    CEDAR_LONG,
    MAX_CLAIM_VALUE_DEPTH,
    MAX_GROUPS,
    MAX_TOKEN_LENGTH,
    added_bytes_capacity,
    nesting_depth,
)
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


def _number(value: Decimal | int | float) -> int | str:
    """A DynamoDB number as JSON the authorizer takes: an int Cedar's Long holds, else its exact
    text. Cedar has no floats: a float claim (4.5) was refused by an authorizer without a schema,
    locking the user out, and one past the Long range too; as text, a schema's `decimal` reads
    "4.5" and a `String` takes it whole. (A float would also round: 99.99999999999999999999
    became 100.0, and a limit on it moved.)"""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnsupportedValue("non-finite number")
        if value == value.to_integral_value():
            whole = int(value)
            return whole if CEDAR_LONG[0] <= whole <= CEDAR_LONG[1] else str(whole)
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsupportedValue("non-finite number")
        if value.is_integer() and CEDAR_LONG[0] <= value <= CEDAR_LONG[1]:
            return int(value)
        return str(Decimal(repr(value)))
    return value if CEDAR_LONG[0] <= value <= CEDAR_LONG[1] else str(value)


def _sorted_set(values: Iterable[Any]) -> list[JsonValue]:
    items = list(values)
    if all(isinstance(v, (Decimal, int, float)) and not isinstance(v, bool) for v in items):
        typed = [_number(v) for v in items]  # (a non-finite one is refused here, first)
        # Ordered by value: a number given as its exact text sorts among the others.
        return [t for _, t in sorted(zip(items, typed, strict=True), key=lambda p: Decimal(p[0]))]
    if all(isinstance(v, str) for v in items):
        return sorted(items)
    converted = [to_claim_value(v) for v in items]
    return sorted(converted, key=lambda v: json.dumps(v, sort_keys=True))


def to_claim_value(value: Any) -> JsonValue:
    """The typed (V2/V3) claim value of a DynamoDB attribute value.

    Decimal -> int when integral within Cedar's Long, else its exact text; SS/NS
    (Python sets) -> sorted lists; lists and maps recursively; bool and str as they are. Binary
    or non-finite numbers raise UnsupportedValue.
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
            if key.startswith("__"):  # `__entity`/`__extn`: Cedar's own forms, refused in claims
                raise UnsupportedValue("map key starting with __")
            out[key] = to_claim_value(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_claim_value(v) for v in value]
    raise UnsupportedValue(f"unsupported type {type(value).__name__}")


def compact_json(value: JsonValue) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def measured_size(value: JsonValue) -> int:
    """Bytes ``value`` may take in a token's payload: compact JSON with every non-ASCII character
    escaped (``\\u00e9``, 6 bytes where UTF-8 takes 2). Cognito's serializer is not documented,
    so the larger of the two forms is counted: a budget met here is met by either."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False))


def v1_string(value: JsonValue) -> str:
    """V1 claims are strings: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else compact_json(value)


def checked_value(name: str, raw: Any) -> tuple[JsonValue, str | None]:
    """The typed claim value of ``raw`` under ``name``, or None and why it may not be emitted.

    The depth is checked on the raw value, before any conversion (no recursion on a value too
    deep to keep): the payload object holds the claim, so a value nested deeper than
    ``MAX_CLAIM_VALUE_DEPTH`` makes a token the authorizer refuses.
    """
    problem = claim_name_problem(name)
    if problem is not None:
        return None, problem
    if nesting_depth(raw) > MAX_CLAIM_VALUE_DEPTH:
        return None, "too_deep"
    if _binary(raw):  # no claim and no Cedar value holds it: no policy reads it
        return None, "binary_value"
    try:
        value = to_claim_value(raw)
    except UnsupportedValue:
        return None, "unsupported_type"
    return (value, None) if value is not None else (None, "null_value")


def _binary(raw: Any) -> bool:
    """A DynamoDB binary (B) or binary set (BS) attribute, as boto3 reads it (``Binary``)."""
    if isinstance(raw, (set, frozenset)):
        return bool(raw) and all(_binary(member) for member in raw)
    return isinstance(raw, (bytes, bytearray)) or type(raw).__name__ == "Binary"


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
        value, problem = checked_value(rule.claim, item[rule.attribute])
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
        value, problem = checked_value(name, raw)
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


GROUPS_CLAIM = "cognito:groups"


def groups_claim_size(groups: Sequence[str]) -> int:
    """Bytes ``,"cognito:groups":[...]`` adds to a payload (none: Cognito leaves it out)."""
    return _member_size(GROUPS_CLAIM, list(groups)) + 1 if groups else 0


def check_groups(groups: Sequence[str], origin: str) -> int:
    """The bytes the groups claim will take; the sign-in is refused when the groups are more than
    ``MAX_GROUPS`` or their names cannot fit a token. Never cut: a group left out could be
    the one a ``forbid`` names. ``origin`` says where they come from (counts, never names)."""
    if len(groups) > MAX_GROUPS:
        raise AttributesUnavailable(
            "too_many_groups",
            f"{len(groups)} groups ({origin}), more than MAX_GROUPS={MAX_GROUPS} a token may "
            "carry; the sign-in is refused rather than a group left out",
        )
    size = groups_claim_size(groups)
    if size > added_bytes_capacity():
        raise AttributesUnavailable(
            "groups_too_large",
            f"the names of {len(groups)} groups ({origin}) take {size} bytes, more than the "
            f"{added_bytes_capacity()} a token of at most MAX_TOKEN_LENGTH={MAX_TOKEN_LENGTH} "
            "characters can add to Cognito's claims; the sign-in is refused rather than a group "
            "left out",
        )
    return size


def scopes_size(scopes: Iterable[str]) -> int:
    """Bytes added scopes may take in the ``scope`` claim (a space and the name, each)."""
    return sum(measured_size(scope) - 1 for scope in scopes)


# --- size budget ------------------------------------------------------------------------------


def _member_size(name: str, value: JsonValue) -> int:
    """Bytes of ``"name":value`` in the claims object, as ``measured_size`` counts them."""
    return measured_size({name: value}) - 2


def claims_size(claims: Mapping[str, JsonValue]) -> int:
    """Bytes of the compact JSON object holding ``claims``, as ``measured_size`` counts them
    (one more than they add to a payload that has other claims: the braces, less a comma)."""
    return measured_size(dict(claims))


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
