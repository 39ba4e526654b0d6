"""The trigger's event and response shapes (V1, V2, V3) and the pure step between them.

Cognito sends ``response`` empty (``claimsOverrideDetails: null`` / ``claimsAndScopeOverrideDetails:
null``). An event whose response is already filled in (AWS's sample events, or a wrapper that
calls this hook after its own code) is kept: its claims, suppressions, scopes and group override
go through the same guards, then the hook's own claims are laid on top.

The token limits (``authorizer.limits``) are kept here: the groups Cognito will write (its own
and the hook's, counted together) are checked against ``MAX_GROUPS`` and what a token can hold,
and each token's claims are budgeted with what is left once those groups and the added scopes
are counted, so that the token stays within ``MAX_TOKEN_LENGTH``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from authorizer.limits import (
    INCOMPLETE_CLAIM,
    ISSUER_CLAIMS_ALLOWANCE_BYTES,
    added_bytes_capacity,
)
from pre_token_hook.claims import (
    ClaimRule,
    Drop,
    JsonValue,
    TokenKind,
    apply_budget,
    check_groups,
    claim_name_problem,
    dedupe,
    default_rules,
    guard_claims,
    map_item,
    measured_size,
    merge_groups,
    scopes_size,
    v1_string,
)
from pre_token_hook.config import Settings
from pre_token_hook.errors import AttributesUnavailable, InvalidTriggerEvent

Version = Literal["1", "2", "3"]
CLIENT_CREDENTIALS = "TokenGeneration_ClientCredentials"
_V1_KEY = "claimsOverrideDetails"
_V2_KEY = "claimsAndScopeOverrideDetails"
_TOKEN_KEYS: dict[TokenKind, str] = {"id": "idTokenGeneration", "access": "accessTokenGeneration"}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> list[str]:
    """A list of strings from whatever is there (non-strings and repeats left out)."""
    if not isinstance(value, (list, tuple)):
        return []
    return dedupe(v for v in value if isinstance(v, str) and v)


@dataclass(frozen=True)
class GroupConfig:
    """``groupConfiguration`` (request) or ``groupOverrideDetails`` (response)."""

    groups: tuple[str, ...] = ()
    iam_roles: tuple[str, ...] = ()
    preferred_role: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> GroupConfig:
        data = _dict(raw)
        role = data.get("preferredRole")
        return cls(
            tuple(_strings(data.get("groupsToOverride"))),
            tuple(_strings(data.get("iamRolesToOverride"))),
            role if isinstance(role, str) and role else None,
        )

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "groupsToOverride": list(self.groups),
            "iamRolesToOverride": list(self.iam_roles),
        }
        if self.preferred_role is not None:
            out["preferredRole"] = self.preferred_role
        return out


@dataclass
class TokenOverride:
    """What the response says about one token."""

    claims: dict[str, JsonValue] = field(default_factory=dict)
    suppress: list[str] = field(default_factory=list)
    scopes_to_add: list[str] = field(default_factory=list)
    scopes_to_suppress: list[str] = field(default_factory=list)

    def render(self, token: TokenKind) -> dict[str, Any]:
        out: dict[str, Any] = {
            "claimsToAddOrOverride": dict(self.claims),
            "claimsToSuppress": list(self.suppress),
        }
        if token == "access":
            out["scopesToAdd"] = list(self.scopes_to_add)
            out["scopesToSuppress"] = list(self.scopes_to_suppress)
        return out


@dataclass(frozen=True)
class PrefilledOverride:
    """The event's own ``response`` (empty from Cognito), read leniently, not yet guarded."""

    claims: Mapping[TokenKind, Mapping[str, Any]] = field(default_factory=dict)
    suppress: Mapping[TokenKind, list[str]] = field(default_factory=dict)
    scopes_to_add: list[str] = field(default_factory=list)
    scopes_to_suppress: list[str] = field(default_factory=list)
    groups: GroupConfig | None = None


@dataclass(frozen=True)
class TriggerEvent:
    version: Version
    trigger_source: str
    sub: str | None
    group_config: GroupConfig
    prefilled: PrefilledOverride
    client_id: str | None = None  # callerContext.clientId: the app client signing in
    # Bytes of the user's attributes (``request.userAttributes``), which Cognito copies into the
    # ID token beside the hook's claims.
    user_attributes_bytes: int = 0
    # Bytes of the scopes the client asked for (``request.scopes``), the access token's `scope`.
    scope_bytes: int = 0

    @property
    def is_machine(self) -> bool:
        """V3 client-credentials grant: an app client, no user, no ID token."""
        return self.trigger_source == CLIENT_CREDENTIALS

    @property
    def tokens(self) -> tuple[TokenKind, ...]:
        """The tokens this event's response can change."""
        if self.version == "1":
            return ("id",)
        if self.is_machine:
            return ("access",)
        return ("id", "access")


def parse_event(event: Any) -> TriggerEvent:
    """Read a pre-token-generation event; tolerant of missing parts, strict on the version."""
    if not isinstance(event, Mapping):
        raise InvalidTriggerEvent("the event is not a JSON object")
    version = str(event.get("version", ""))
    if version not in ("1", "2", "3"):
        raise InvalidTriggerEvent(
            f"unsupported pre-token-generation event version {version!r} (expected 1, 2 or 3)"
        )
    request = _dict(event.get("request"))
    attributes = _dict(request.get("userAttributes"))
    sub = attributes.get("sub")
    in_token = {k: v for k, v in attributes.items() if k not in _NOT_IN_ID_TOKEN}
    return TriggerEvent(
        version=cast(Version, version),
        trigger_source=str(event.get("triggerSource", "")),
        sub=sub if isinstance(sub, str) and sub else None,
        group_config=GroupConfig.parse(request.get("groupConfiguration")),
        prefilled=_parse_prefilled(version, _dict(event.get("response"))),
        client_id=_client_id(event),
        user_attributes_bytes=_utf8_size(in_token) if in_token else 0,
        scope_bytes=measured_size(" ".join(_strings(request.get("scopes")))),
    )


def _utf8_size(value: Mapping[str, Any]) -> int:
    """Bytes of the attributes as the token's UTF-8 JSON holds them (Cognito's own values: the
    hook's larger, escaped count of its claims would over-count them up to threefold)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


# userAttributes Cognito does not write into the ID token.
_NOT_IN_ID_TOKEN = frozenset({"cognito:user_status"})
# Cognito's ID token claims that are not user attributes (iss, aud, token_use, auth_time, iat,
# exp, jti, origin_jti, event_id, cognito:username): ~450 bytes.
_COGNITO_OWN_ID_CLAIM_BYTES = 512


def _client_id(event: Mapping[str, Any]) -> str | None:
    client = _dict(event.get("callerContext")).get("clientId")
    return client if isinstance(client, str) and client else None


def _parse_prefilled(version: str, response: Mapping[str, Any]) -> PrefilledOverride:
    if version == "1":
        details = _dict(response.get(_V1_KEY))
        return PrefilledOverride(
            claims={"id": _dict(details.get("claimsToAddOrOverride"))},
            suppress={"id": _strings(details.get("claimsToSuppress"))},
            groups=_optional_groups(details),
        )
    details = _dict(response.get(_V2_KEY))
    per_token = {token: _dict(details.get(key)) for token, key in _TOKEN_KEYS.items()}
    access = per_token["access"]
    return PrefilledOverride(
        claims={t: _dict(d.get("claimsToAddOrOverride")) for t, d in per_token.items()},
        suppress={t: _strings(d.get("claimsToSuppress")) for t, d in per_token.items()},
        scopes_to_add=_strings(access.get("scopesToAdd")),
        scopes_to_suppress=_strings(access.get("scopesToSuppress")),
        groups=_optional_groups(details),
    )


def _optional_groups(details: Mapping[str, Any]) -> GroupConfig | None:
    raw = details.get("groupOverrideDetails")
    return GroupConfig.parse(raw) if isinstance(raw, Mapping) else None


@dataclass
class Outcome:
    """The override to send back, and what was left out of it."""

    tokens: dict[TokenKind, TokenOverride]
    groups: GroupConfig | None
    drops: list[Drop]


def compose(
    event: TriggerEvent,
    settings: Settings,
    item: Mapping[str, Any] | None,
    item_groups: Sequence[str] | None,
) -> Outcome:
    """The override for ``event`` given the user's item (None: nothing to add). Pure.

    Raises ``AttributesUnavailable`` (``too_many_groups``, ``groups_too_large``,
    ``token_too_large``) when the token would break a limit that only a missing group or scope
    could keep: those are never dropped.
    """
    drops: list[Drop] = []
    additions: dict[TokenKind, dict[str, JsonValue]] = {}
    if item is not None:
        rules: Sequence[ClaimRule] = (
            settings.mapping
            if settings.mapping is not None
            else default_rules(item, settings.excluded_attributes)
        )
        additions, mapped_drops = map_item(item, rules, event.tokens)
        drops.extend(mapped_drops)
    groups = _groups(event, settings, item_groups)
    groups_bytes = _check_token_groups(event, settings, groups, item_groups)
    # What else Cognito writes beyond its allowance: the ID token's IAM roles of the groups
    # (`cognito:roles`, `cognito:preferred_role`), the access token's asked scopes past the
    # allowance's share: uncounted, a whole token passed MAX_TOKEN_LENGTH (refused as too long).
    final = groups or event.group_config
    beyond = {"id": _roles_size(final), "access": max(0, event.scope_bytes - _SCOPE_SHARE_BYTES)}
    tokens: dict[TokenKind, TokenOverride] = {}
    for token in event.tokens:
        cut = any(d.token == token and d.reason not in _NOT_A_VALUE for d in drops)
        override, token_drops = _token_override(
            event, settings, token, additions.get(token, {}), groups_bytes + beyond[token], cut
        )
        drops.extend(token_drops)
        tokens[token] = override
    return Outcome(tokens, groups, drops)


# Drops that leave out a value the user's item has and a policy may read: one over the size
# budget, nested too deep, a record with one binary member or a `__` key, a map where the ID
# token takes only text (`address`). The token is marked incomplete (INCOMPLETE_CLAIM), and the
# authorizer refuses it. Not: a null (no value), a binary attribute (no claim or Cedar value
# holds one), a name no hook may write (`iss`, `cognito:*`, `custom`): a claim of that name is
# Cognito's own, and what a policy reads there is Cognito's value, with or without the item.
_NOT_A_VALUE = frozenset(
    {"null_value", "binary_value", "empty_name", "protected_claim", "reserved_name",
     "reserved_prefix"}
)  # fmt: skip
# The access token's `scope` within Cognito's allowance (ISSUER_CLAIMS_ALLOWANCE_BYTES): room
# for `openid email profile aws.cognito.signin.user.admin`; more is counted against the hook.
_SCOPE_SHARE_BYTES = 64


def _roles_size(config: GroupConfig) -> int:
    """Bytes of the `cognito:roles` and `cognito:preferred_role` claims ``config`` makes."""
    size = 0
    if config.iam_roles:
        size += measured_size({"cognito:roles": list(config.iam_roles)})
    if config.preferred_role:
        size += measured_size({"cognito:preferred_role": config.preferred_role})
    return size


_INCOMPLETE_BYTES = len(f'"{INCOMPLETE_CLAIM}":"true",')


def _token_override(
    event: TriggerEvent,
    settings: Settings,
    token: TokenKind,
    additions: Mapping[str, JsonValue],
    groups_bytes: int,
    cut: bool = False,
) -> tuple[TokenOverride, list[Drop]]:
    """One token's override: guarded prefilled claims, the item's on top, within the budget
    that is left once the groups and the added scopes are counted. ``cut``: the item's claims
    for this token already lost a value (too deep); then, or when the budget drops one, the
    token is marked incomplete."""
    prefilled, drops = guard_claims(event.prefilled.claims.get(token, {}), token)
    merged = {**prefilled, **additions}
    if event.version == "1":
        merged = {name: v1_string(value) for name, value in merged.items()}
    override = TokenOverride()
    if token == "access":
        granted = settings.scopes_for(event.client_id)
        override.scopes_to_add = dedupe([*event.prefilled.scopes_to_add, *granted])
        override.scopes_to_suppress = list(event.prefilled.scopes_to_suppress)
    fixed = groups_bytes + scopes_size(override.scopes_to_add)
    if fixed > added_bytes_capacity():
        raise AttributesUnavailable(
            "token_too_large",
            f"the {token} token's groups and added scopes take {fixed} bytes, more than the "
            f"{added_bytes_capacity()} a token can add to Cognito's claims",
        )
    budget = min(settings.budget_bytes, added_bytes_capacity() - fixed)
    if token == "id":
        # The allowance for Cognito's own claims assumes ordinary attributes; a user's long ones
        # (a 1,500-character custom:bio) take what is over it from the claims the hook adds, or
        # the ID token passes MAX_TOKEN_LENGTH and the authorizer refuses every request of that
        # user. Only from the claims: the hook cannot shorten the user's attributes, so refusing
        # the sign-in for them would change nothing.
        own = event.user_attributes_bytes + _COGNITO_OWN_ID_CLAIM_BYTES
        budget = max(0, budget - max(0, own - ISSUER_CLAIMS_ALLOWANCE_BYTES))
    ordered = dict(sorted(merged.items()))
    override.claims, budget_drops = apply_budget(ordered, budget, token)
    if cut or budget_drops or any(d.reason not in _NOT_A_VALUE for d in drops):
        # Fitted again with room for the mark: a token missing a value is refused, never read.
        override.claims, budget_drops = apply_budget(ordered, budget - _INCOMPLETE_BYTES, token)
        override.claims[INCOMPLETE_CLAIM] = "true" if event.version == "1" else True
    drops.extend(budget_drops)
    for name in event.prefilled.suppress.get(token, []):
        problem = claim_name_problem(name)
        if problem is not None:
            drops.append(Drop(name, token, f"suppress_{problem}"))
        elif name not in override.claims:
            override.suppress.append(name)
    # A claim the mapping takes from the table comes from the table or not at all: where the item
    # lacks it (no item, no attribute, a value dropped), the token's own value is suppressed, or
    # a user-writable `custom:branch` the user set would pass for the table's.
    for rule in settings.mapping or ():
        name = rule.claim
        kept = name in override.claims or name in override.suppress
        if token in rule.tokens and not kept and claim_name_problem(name) is None:
            override.suppress.append(name)
    return override, drops


def _groups(
    event: TriggerEvent, settings: Settings, item_groups: Sequence[str] | None
) -> GroupConfig | None:
    if event.is_machine:
        return None
    base = event.prefilled.groups or event.group_config
    if item_groups is None:
        return event.prefilled.groups
    groups = merge_groups(base.groups, item_groups, settings.groups_mode)
    return GroupConfig(tuple(groups), base.iam_roles, base.preferred_role)


def _check_token_groups(
    event: TriggerEvent,
    settings: Settings,
    override: GroupConfig | None,
    item_groups: Sequence[str] | None,
) -> int:
    """Bytes of the groups Cognito will write into both tokens (the override's, else its own);
    raises when they break a limit. Cognito's groups and the item's count together."""
    if event.is_machine:
        return 0
    final = override.groups if override is not None else event.group_config.groups
    current = (event.prefilled.groups or event.group_config).groups
    if item_groups is None:
        origin = "from Cognito"
    elif settings.groups_mode == "override":
        origin = f"from the item's {settings.groups_attribute!r} attribute, GROUPS_MODE=override"
    else:
        origin = (
            f"{len(current)} from Cognito and {len(final) - len(current)} more from the item's "
            f"{settings.groups_attribute!r} attribute, GROUPS_MODE=extend"
        )
    return check_groups(final, origin)


def render(event: TriggerEvent, outcome: Outcome) -> dict[str, Any]:
    """The ``response`` object for the event's version."""
    if event.version == "1":
        details = outcome.tokens["id"].render("id")
        if outcome.groups is not None:
            details["groupOverrideDetails"] = outcome.groups.render()
        return {_V1_KEY: details}
    body: dict[str, Any] = {
        _TOKEN_KEYS[token]: override.render(token) for token, override in outcome.tokens.items()
    }
    if outcome.groups is not None:
        body["groupOverrideDetails"] = outcome.groups.render()
    return {_V2_KEY: body}


def apply_override(
    claims: Mapping[str, Any], response: Mapping[str, Any], token: TokenKind
) -> dict[str, Any]:
    """The ``token`` Cognito would issue: ``claims`` (as Cognito built them) after ``response``.

    For local issuers and tests, which have no Cognito to do it: suppressions first, then
    additions, then ``cognito:groups`` from the group override (both tokens, every version),
    then the access token's scopes. Protected claims are left alone, as Cognito does.
    """
    out = dict(claims)
    details = _dict(response.get(_V1_KEY)) or _dict(response.get(_V2_KEY))
    per_token = _token_details(response, token)
    for name in _strings(per_token.get("claimsToSuppress")):
        if claim_name_problem(name) is None:
            out.pop(name, None)
    for name, value in _dict(per_token.get("claimsToAddOrOverride")).items():
        if claim_name_problem(name) is None:
            out[name] = value
    groups = details.get("groupOverrideDetails")
    if isinstance(groups, Mapping):
        names = _strings(groups.get("groupsToOverride"))
        if names:
            out["cognito:groups"] = names
        else:
            out.pop("cognito:groups", None)
    if "scopesToAdd" in per_token or "scopesToSuppress" in per_token:
        scopes = str(out.get("scope", "")).split()
        removed = set(_strings(per_token.get("scopesToSuppress")))
        kept = [s for s in scopes if s not in removed]
        scope = " ".join(dedupe([*kept, *_strings(per_token.get("scopesToAdd"))]))
        if scope:
            out["scope"] = scope
        else:
            out.pop("scope", None)
    return out


def _token_details(response: Mapping[str, Any], token: TokenKind) -> Mapping[str, Any]:
    """The part of a response that speaks about ``token`` (V1 speaks about the ID token only)."""
    v1 = _dict(response.get(_V1_KEY))
    if v1:
        return v1 if token == "id" else {}
    return _dict(_dict(response.get(_V2_KEY)).get(_TOKEN_KEYS[token]))
