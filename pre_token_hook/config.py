"""The hook's settings, from environment variables, parsed and checked once at cold start.

- ``USER_ATTRIBUTES_TABLE``: DynamoDB table, partition key ``sub``. Unset: no lookup (guards
  still apply).
- ``CLAIM_MAPPING``: JSON ``{"<attribute>": {"claim": "<name>", "tokens": ["id", "access"]}}``
  (``claim`` defaults to the attribute, ``tokens`` to both). Unset: every item attribute but
  ``sub`` and the groups attribute, same name, both tokens.
- ``GROUPS_ATTRIBUTE``: item attribute holding group names (default ``groups``; empty: none).
- ``GROUPS_MODE``: ``extend`` (Cognito's groups then the item's; default) or ``override``.
- ``ATTRIBUTES_FAIL_OPEN``: ``true`` issues the token unenriched when the read fails (default
  ``false``: the sign-in fails).
- ``TOKEN_CLAIMS_BUDGET_BYTES``: max compact-JSON bytes of the added claims per token (4096; at
  most ``authorizer.limits.added_bytes_capacity()``, 4221, so a token stays within
  ``MAX_TOKEN_LENGTH``; the groups' names take from the same room when a user has many).
- ``AWS_ENDPOINT_URL_DYNAMODB``: read by boto3 itself (local runs, moto server).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from authorizer.limits import (
    HEADER_ALLOWANCE_BYTES,
    ISSUER_CLAIMS_ALLOWANCE_BYTES,
    MAX_TOKEN_LENGTH,
    RS256_SIGNATURE_CHARS,
    added_bytes_capacity,
)
from pre_token_hook.claims import TOKEN_KINDS, ClaimRule, TokenKind, claim_name_problem
from pre_token_hook.errors import ConfigError

GroupsMode = Literal["extend", "override"]

DEFAULT_GROUPS_ATTRIBUTE = "groups"
DEFAULT_BUDGET_BYTES = 4096
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_RULE_KEYS = frozenset({"claim", "tokens"})


@dataclass(frozen=True)
class Settings:
    table: str | None = None
    # None: the default mapping (every item attribute but `sub` and the groups attribute).
    mapping: tuple[ClaimRule, ...] | None = None
    groups_attribute: str | None = DEFAULT_GROUPS_ATTRIBUTE
    groups_mode: GroupsMode = "extend"
    fail_open: bool = False
    budget_bytes: int = DEFAULT_BUDGET_BYTES
    # ACCESS_TOKEN_SCOPES: OAuth scopes added to access tokens, by app client id ("*": every
    # client). A scope says what the application may do, so it is granted per client, not per user.
    access_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def scopes_for(self, client_id: str | None) -> tuple[str, ...]:
        return self.access_scopes.get("*", ()) + self.access_scopes.get(client_id or "", ())

    def __post_init__(self) -> None:
        if self.budget_bytes < 1:
            raise ConfigError(
                f"TOKEN_CLAIMS_BUDGET_BYTES must be a positive integer, got {self.budget_bytes}"
            )
        if self.budget_bytes > added_bytes_capacity():
            raise ConfigError(
                f"TOKEN_CLAIMS_BUDGET_BYTES={self.budget_bytes} cannot fit a token: the authorizer "
                f"refuses tokens over MAX_TOKEN_LENGTH={MAX_TOKEN_LENGTH} characters, which after "
                f"the header (<= {HEADER_ALLOWANCE_BYTES} bytes), the RS256 signature "
                f"({RS256_SIGNATURE_CHARS} characters), base64url's 4/3 and Cognito's own claims "
                f"(<= {ISSUER_CLAIMS_ALLOWANCE_BYTES} bytes) leave {added_bytes_capacity()} "
                "bytes for the hook's claims; set at most that"
            )
        if self.groups_mode not in ("extend", "override"):
            raise ConfigError(
                f"GROUPS_MODE must be 'extend' or 'override', got {self.groups_mode!r}"
            )
        if self.mapping is not None:
            check_mapping(self.mapping, self.groups_attribute)

    @property
    def excluded_attributes(self) -> tuple[str, ...]:
        """Attributes the default mapping never turns into claims."""
        return ("sub", self.groups_attribute) if self.groups_attribute else ("sub",)

    @property
    def projection(self) -> tuple[str, ...] | None:
        """The attributes worth reading (None: all of them)."""
        if self.mapping is None:
            return None
        names = [rule.attribute for rule in self.mapping]
        if self.groups_attribute:
            names.append(self.groups_attribute)
        return tuple(dict.fromkeys(names))


def check_mapping(rules: tuple[ClaimRule, ...], groups_attribute: str | None) -> None:
    """Refuse a mapping that would emit a forbidden claim, a claim twice, or groups as a claim."""
    seen: dict[tuple[str, TokenKind], str] = {}
    for rule in rules:
        problem = claim_name_problem(rule.claim)
        if problem is not None:
            raise ConfigError(
                f"CLAIM_MAPPING maps {rule.attribute!r} to claim {rule.claim!r}, which the hook "
                f"never emits ({problem}: protected by Cognito or reserved for AVP consumers)"
            )
        if groups_attribute and rule.attribute == groups_attribute:
            raise ConfigError(
                f"CLAIM_MAPPING maps the groups attribute {rule.attribute!r}; groups go to "
                "cognito:groups through groupOverrideDetails, never as a claim"
            )
        if not rule.tokens or not set(rule.tokens) <= set(TOKEN_KINDS):
            raise ConfigError(
                f"CLAIM_MAPPING[{rule.attribute!r}].tokens must list id and/or access"
            )
        for token in rule.tokens:
            other = seen.setdefault((rule.claim, token), rule.attribute)
            if other != rule.attribute:
                raise ConfigError(
                    f"CLAIM_MAPPING maps both {other!r} and {rule.attribute!r} to claim "
                    f"{rule.claim!r} in the {token} token"
                )


def parse_mapping(text: str) -> tuple[ClaimRule, ...]:
    """``CLAIM_MAPPING`` JSON -> rules, in the order written."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"CLAIM_MAPPING is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("CLAIM_MAPPING must be a JSON object of attribute -> rule")
    return tuple(_parse_rule(attribute, spec) for attribute, spec in raw.items())


def _parse_rule(attribute: str, spec: Any) -> ClaimRule:
    where = f"CLAIM_MAPPING[{attribute!r}]"
    if not attribute:
        raise ConfigError("CLAIM_MAPPING has an empty attribute name")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be an object like {{'claim': ..., 'tokens': [...]}}")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)} (allowed: claim, tokens)")
    claim = spec.get("claim", attribute)
    if not isinstance(claim, str) or not claim:
        raise ConfigError(f"{where}.claim must be a non-empty string")
    tokens = spec.get("tokens", list(TOKEN_KINDS))
    if (
        not isinstance(tokens, list)
        or not tokens
        or not all(t in TOKEN_KINDS for t in tokens)
        or len(set(tokens)) != len(tokens)
    ):
        raise ConfigError(f"{where}.tokens must be a non-empty list of 'id' and/or 'access'")
    return ClaimRule(attribute, claim, frozenset(cast(list[TokenKind], tokens)))


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    folded = value.strip().casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def parse_budget(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_BUDGET_BYTES
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"TOKEN_CLAIMS_BUDGET_BYTES must be an integer, got {value!r}") from exc


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default ``os.environ``); raises ConfigError with a clear message."""
    env = os.environ if env is None else env
    mapping_text = env.get("CLAIM_MAPPING", "").strip()
    groups_attribute = env.get("GROUPS_ATTRIBUTE", DEFAULT_GROUPS_ATTRIBUTE).strip() or None
    mode = env.get("GROUPS_MODE", "extend").strip().casefold() or "extend"
    if mode not in ("extend", "override"):
        raise ConfigError(f"GROUPS_MODE must be 'extend' or 'override', got {mode!r}")
    return Settings(
        table=env.get("USER_ATTRIBUTES_TABLE", "").strip() or None,
        mapping=parse_mapping(mapping_text) if mapping_text else None,
        groups_attribute=groups_attribute,
        groups_mode=cast(GroupsMode, mode),
        fail_open=parse_bool("ATTRIBUTES_FAIL_OPEN", env.get("ATTRIBUTES_FAIL_OPEN"), False),
        budget_bytes=parse_budget(env.get("TOKEN_CLAIMS_BUDGET_BYTES")),
        access_scopes=parse_scopes(env.get("ACCESS_TOKEN_SCOPES", "")),
    )


def parse_scopes(text: str) -> dict[str, tuple[str, ...]]:
    """``{"<app client id>" or "*": ["scope", ...]}``; empty text: none."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"ACCESS_TOKEN_SCOPES is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError('ACCESS_TOKEN_SCOPES must be an object {"<client id>|*": [scopes]}')
    scopes: dict[str, tuple[str, ...]] = {}
    for client, names in value.items():
        if not isinstance(names, list) or not all(
            isinstance(n, str) and n and not any(c.isspace() for c in n) for n in names
        ):
            raise ConfigError(f"ACCESS_TOKEN_SCOPES[{client!r}] must be a list of scope names")
        scopes[client] = tuple(names)
    return scopes
