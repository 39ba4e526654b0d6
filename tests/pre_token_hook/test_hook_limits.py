"""The hook keeps the authorizer's token limits (``authorizer.limits``): too-deep claims are
dropped and logged, groups over the limit fail the sign-in, the claims budget leaves room for
the groups, and the tokens it issues for a maximal user verify in the real authorizer, while one
more group or one more level of depth is refused there."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authorizer.errors import InvalidToken
from authorizer.identity.tokens import _depth as authorizer_depth
from authorizer.limits import (
    INCOMPLETE_CLAIM,
    ISSUER_CLAIMS_ALLOWANCE_BYTES,
    MAX_CLAIM_DEPTH,
    MAX_CLAIM_VALUE_DEPTH,
    MAX_GROUPS,
    MAX_TOKEN_LENGTH,
    added_bytes_capacity,
    base64url_length,
    nesting_depth,
    payload_capacity_bytes,
)
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from pre_token_hook import handler
from pre_token_hook.claims import TokenKind, default_rules, map_item, measured_size
from pre_token_hook.config import Settings, load_settings
from pre_token_hook.errors import AttributesUnavailable, ConfigError
from pre_token_hook.trigger import apply_override
from tests.conftest import FakeClock, JwksServer, sample_env
from tests.helpers import outcome, rest
from tests.pre_token_hook.hook_support import (
    SAMPLE_CLAIMS,
    SUB,
    TABLE,
    RecordingSource,
    hook_lines,
    sample_item,
    user_event,
)

SECRET = "do-not-log-me"


def nested(depth: int) -> Any:
    """A value ``depth`` levels deep (0: a scalar), ``SECRET`` at the bottom."""
    value: Any = SECRET
    for _ in range(depth):
        value = {"k": value}
    return value


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(count)]


def run(event: dict[str, Any], source: Any, settings: Settings | None = None) -> dict[str, Any]:
    handler.configure(settings or Settings(), source)
    return handler.lambda_handler(copy.deepcopy(event), None)


def added(out: dict[str, Any], key: str = "accessTokenGeneration") -> dict[str, Any]:
    claims: dict[str, Any] = out["response"]["claimsAndScopeOverrideDetails"][key][
        "claimsToAddOrOverride"
    ]
    return claims


# --- the arithmetic ---------------------------------------------------------------------------


def test_the_claims_room_is_what_a_maximal_token_leaves() -> None:
    # A payload of capacity bytes, with the allowed header and an RS256 signature, is exactly
    # within MAX_TOKEN_LENGTH; one more byte of payload is not.
    fixed = base64url_length(128) + 342 + 2
    assert fixed + base64url_length(payload_capacity_bytes()) <= MAX_TOKEN_LENGTH
    assert fixed + base64url_length(payload_capacity_bytes() + 1) > MAX_TOKEN_LENGTH
    assert added_bytes_capacity() == payload_capacity_bytes() - ISSUER_CLAIMS_ALLOWANCE_BYTES
    assert added_bytes_capacity() >= Settings().budget_bytes  # the default fits


def test_a_budget_that_cannot_fit_a_token_is_refused_at_configuration() -> None:
    assert load_settings({"TOKEN_CLAIMS_BUDGET_BYTES": str(added_bytes_capacity())})
    with pytest.raises(ConfigError, match="TOKEN_CLAIMS_BUDGET_BYTES=4222 cannot fit") as info:
        load_settings({"TOKEN_CLAIMS_BUDGET_BYTES": str(added_bytes_capacity() + 1)})
    assert "MAX_TOKEN_LENGTH=8192" in str(info.value)
    with pytest.raises(ConfigError, match="TOKEN_CLAIMS_BUDGET_BYTES"):
        Settings(budget_bytes=100_000)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


@given(value=json_values)
def test_the_hook_counts_depth_as_the_authorizer_does(value: Any) -> None:
    # The payload object holds the claim: the authorizer's depth of {"c": value}.
    assert 1 + nesting_depth(value) == authorizer_depth({"c": value})


# --- depth ------------------------------------------------------------------------------------


def test_a_value_as_deep_as_a_token_allows_is_kept_one_level_more_is_dropped() -> None:
    assert MAX_CLAIM_VALUE_DEPTH == MAX_CLAIM_DEPTH - 1
    item = {"ok": nested(MAX_CLAIM_VALUE_DEPTH), "deep": nested(MAX_CLAIM_VALUE_DEPTH + 1)}
    claims, drops = map_item(item, default_rules(item, ()), ("id", "access"))
    assert claims == {"id": {"ok": item["ok"]}, "access": {"ok": item["ok"]}}
    assert [(d.claim, d.token, d.reason) for d in drops] == [
        ("deep", "id", "too_deep"),
        ("deep", "access", "too_deep"),
    ]


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_a_30_deep_attribute_map_is_dropped_and_logged_the_others_kept(
    version: str, caplog_hook: pytest.LogCaptureFixture
) -> None:
    """The others are kept and the token marked incomplete: the authorizer refuses it, as a
    forbid on the left-out `profile` would not hold."""
    item = sample_item() | {"profile": nested(30)}
    out = run(user_event(version), RecordingSource({SUB: item}))
    if version == "1":
        kept = out["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
        assert set(kept) == {*SAMPLE_CLAIMS, INCOMPLETE_CLAIM}
        tokens = ["id"]
    else:
        assert added(out) == SAMPLE_CLAIMS | {INCOMPLETE_CLAIM: True}
        assert added(out, "idTokenGeneration") == SAMPLE_CLAIMS | {INCOMPLETE_CLAIM: True}
        tokens = ["id", "access"]
    line = hook_lines(caplog_hook)[-1]
    assert line["dropped"] == [
        {"claim": "profile", "token": t, "reason": "too_deep"} for t in tokens
    ]
    assert line["status"] == "enriched"
    assert SECRET not in caplog_hook.text  # the name and the reason, never the value


def test_a_too_deep_prefilled_claim_is_dropped_without_recursing() -> None:
    # A wrapper's response far deeper than Python's recursion limit: dropped, not a crash.
    event = user_event("2")
    event["response"]["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"claimsToAddOrOverride": {"x": nested(5000)}}
    }
    out = handler.handle(event, handler.configure(Settings(), None))  # no deepcopy: it recurses
    assert added(out) == {INCOMPLETE_CLAIM: True}  # a value left out: the token is refused


# --- groups -----------------------------------------------------------------------------------


def test_ten_thousand_groups_in_the_table_fail_the_sign_in(
    moto_dynamodb: Any, monkeypatch: pytest.MonkeyPatch, caplog_hook: pytest.LogCaptureFixture
) -> None:
    groups = [{"S": name} for name in names("g", 10_000)]
    moto_dynamodb.update_item(
        TableName=TABLE,
        Key={"sub": {"S": SUB}},
        UpdateExpression="SET #g = :g",
        ExpressionAttributeNames={"#g": "groups"},
        ExpressionAttributeValues={":g": {"L": groups}},
    )
    monkeypatch.setenv("USER_ATTRIBUTES_TABLE", TABLE)
    # Failing open is for an unreadable table: it does not turn a limit into a cut group list.
    monkeypatch.setenv("ATTRIBUTES_FAIL_OPEN", "true")
    with pytest.raises(AttributesUnavailable) as info:
        handler.lambda_handler(user_event("2", groups=["employees"]), None)
    assert info.value.reason == "too_many_groups"
    assert str(info.value).startswith(
        "too_many_groups: 10001 groups (1 from Cognito and 10000 more from the item's 'groups' "
        "attribute, GROUPS_MODE=extend), more than MAX_GROUPS=200"
    )
    line = hook_lines(caplog_hook)[-1]
    assert (line["status"], line["error"]) == ("refused", "too_many_groups")
    assert caplog_hook.records[-1].levelname == "ERROR"


@pytest.mark.parametrize(
    ("cognito", "from_item", "mode", "total"),
    [
        (names("c", 50), names("i", 150), "extend", 200),
        (names("c", 50), names("i", 151), "extend", 201),
        # Counted after de-duplication, as the authorizer counts them.
        (names("c", 100), names("c", 50) + names("i", 100), "extend", 200),
        (names("c", 100), names("c", 50) + names("i", 101), "extend", 201),
        # Override: only the item's groups reach the token.
        (names("c", 300), names("i", 200), "override", 200),
        ([], names("i", 201), "override", 201),
    ],
)
def test_200_groups_pass_201_fail(
    cognito: list[str], from_item: list[str], mode: Any, total: int
) -> None:
    source = RecordingSource({SUB: sample_item() | {"groups": from_item}})
    settings = Settings(groups_mode=mode)
    if total <= MAX_GROUPS:
        out = run(user_event("2", groups=cognito), source, settings)
        details = out["response"]["claimsAndScopeOverrideDetails"]
        assert len(details["groupOverrideDetails"]["groupsToOverride"]) == total
        return
    with pytest.raises(AttributesUnavailable, match=f"^too_many_groups: {total} groups"):
        run(user_event("2", groups=cognito), source, settings)


@pytest.mark.parametrize("version", ["1", "2"])
def test_cognitos_own_groups_over_the_limit_fail_the_sign_in(version: str) -> None:
    item = {k: v for k, v in sample_item().items() if k != "groups"}
    with pytest.raises(AttributesUnavailable, match=r"^too_many_groups: 201 groups \(from Cognito"):
        run(user_event(version, groups=names("c", 201)), RecordingSource({SUB: item}))


def test_group_names_too_long_for_a_token_fail_the_sign_in() -> None:
    long_names = [f"{'n' * 40}-{i:03d}" for i in range(150)]  # 150 x 47 bytes > 4221
    source = RecordingSource({SUB: sample_item() | {"groups": long_names}})
    with pytest.raises(AttributesUnavailable, match=r"^groups_too_large: the names of 151 groups"):
        run(user_event("2", groups=["employees"]), source)


def test_many_groups_leave_less_room_for_claims(caplog_hook: pytest.LogCaptureFixture) -> None:
    groups = names("group-with-a-longer-name", 120)  # 120 x 32 bytes: ~360 bytes of room left
    source = RecordingSource({SUB: sample_item() | {"groups": groups, "bio": "x" * 500}})
    out = run(user_event("2"), source)
    # 500 bytes would fit the 4096 budget, not the room left: left out, the token marked
    assert added(out) == SAMPLE_CLAIMS | {INCOMPLETE_CLAIM: True}
    drops = [(d["claim"], d["reason"]) for d in hook_lines(caplog_hook)[-1]["dropped"]]
    assert drops == [("bio", "token_budget"), ("bio", "token_budget")]


def test_a_users_long_attributes_are_counted_in_the_id_tokens_room(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    """Cognito copies the user's attributes into the ID token: a 1,500-character custom:bio
    plus an item that fills the budget made an ID token over MAX_TOKEN_LENGTH (every request
    a 401). What they take past the allowance for Cognito's own claims leaves the hook less;
    the access token (no user attributes) keeps its room."""
    item = sample_item() | {"notes": "n" * 3600}
    plain = run(user_event("2"), RecordingSource({SUB: item}))
    assert added(plain, "idTokenGeneration")["notes"] == "n" * 3600
    event = user_event("2")
    event["request"]["userAttributes"]["custom:bio"] = "x" * 1500
    out = run(event, RecordingSource({SUB: item}))
    assert "notes" not in added(out, "idTokenGeneration")
    assert added(out, "idTokenGeneration")[INCOMPLETE_CLAIM] is True  # the ID token is refused
    assert added(out)["notes"] == "n" * 3600
    assert INCOMPLETE_CLAIM not in added(out)  # the access token is whole, and serves
    drops = [(d["claim"], d["token"], d["reason"]) for d in hook_lines(caplog_hook)[-1]["dropped"]]
    assert drops == [("notes", "id", "token_budget")]
    # The hook cannot shorten the user's attributes: however long, they take claims, never the
    # sign-in (a 900-character accented bio refused it, counted escaped at 6 bytes a letter).
    event["request"]["userAttributes"]["custom:bio"] = "é" * 900
    out = run(event, RecordingSource({SUB: item}))
    assert added(out)["notes"] == "n" * 3600
    event["request"]["userAttributes"]["custom:bio"] = "x" * 6000
    out = run(event, RecordingSource({SUB: item}))
    assert added(out, "idTokenGeneration") == {INCOMPLETE_CLAIM: True}


def test_added_scopes_are_counted_in_the_access_tokens_room() -> None:
    item = sample_item() | {"bio": "x" * 3900}
    source = RecordingSource({SUB: item})
    plain = run(user_event("2"), source)
    assert added(plain)["bio"] == "x" * 3900
    scopes = {"*": tuple(f"api/scope-{i:03d}-{'s' * 20}" for i in range(20))}  # ~700 bytes
    scoped = run(user_event("2"), source, Settings(access_scopes=scopes))
    assert "bio" not in added(scoped)
    assert added(scoped, "idTokenGeneration")["bio"] == "x" * 3900  # no scopes in the ID token


# --- the real authorizer ----------------------------------------------------------------------

TRANSFER = ("POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers")


def maximal_item(extra_groups: int = 0, depth: int = MAX_CLAIM_VALUE_DEPTH) -> dict[str, Any]:
    """A payment initiator with 100 groups of its own (and Cognito's 100: 200 in all), a claim
    as deep as a token allows, and more claims than the room left for them."""
    return {
        "sub": "pat",
        "tenant": "acme",
        "department": "finance",
        "permissions": ["payments:initiate"],
        "dailyLimit": Decimal(5000),
        "deep": nested(depth),
        "groups": ["payment-initiators", *names("item-group", 99 + extra_groups)],
        **{f"filler{i:02d}": "f" * 60 for i in range(60)},
    }


def cognito_claims(issuer: LocalIssuer, kind: TokenKind, now: float) -> dict[str, Any]:
    """What Cognito writes itself, padded to the hook's whole allowance for it."""
    claims = issuer.claims("pat", token_use=kind, scope="openid", now=now)
    claims["email"] = ""
    claims["email"] = "p" * (ISSUER_CLAIMS_ALLOWANCE_BYTES - measured_size(claims) - 5) + "@x.io"
    assert measured_size(claims) == ISSUER_CLAIMS_ALLOWANCE_BYTES
    return claims


def issue(
    issuer: LocalIssuer, kind: TokenKind, now: float, item: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The hook on a V2 event for ``item``, then the token Cognito would sign."""
    event = user_event("2", sub="pat", groups=names("cognito-group", 100))
    out = run(event, RecordingSource({"pat": item}))
    claims = apply_override(cognito_claims(issuer, kind, now), out["response"], kind)
    return issuer.sign(claims), claims


@pytest.fixture(params=["access", "id"])
def kind_and_authz(
    request: pytest.FixtureRequest, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> tuple[TokenKind, Authorizer]:
    kind: TokenKind = request.param
    env = sample_env(issuer, jwks_server.url, AUTH_TOKEN_USE=kind)
    return kind, Authorizer.from_env(env, clock=clock)


def test_a_maximal_users_tokens_verify_and_one_more_group_or_level_is_refused_on_both_sides(
    kind_and_authz: tuple[TokenKind, Authorizer],
    issuer: LocalIssuer,
    clock: FakeClock,
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    kind, authz = kind_and_authz
    cut, cut_claims = issue(issuer, kind, clock.now, maximal_item())
    # Over the budget: claims dropped, the token marked incomplete, and refused (a forbid on a
    # dropped attribute would not hold), within the length all the same.
    dropped = hook_lines(caplog_hook)[-1]["dropped"]
    assert dropped and {d["reason"] for d in dropped} == {"token_budget"}
    assert len(cut) <= MAX_TOKEN_LENGTH
    with pytest.raises(InvalidToken) as info:
        authz.verify(cut)
    assert info.value.reason == "incomplete_token"
    # Maximal and whole: 200 groups, a claim as deep as allowed, the fillers that fitted.
    kept = {name for name in cut_claims if name.startswith("filler")}
    whole = {k: v for k, v in maximal_item().items() if not k.startswith("filler") or k in kept}
    token, claims = issue(issuer, kind, clock.now, whole)
    assert (
        "dropped" not in hook_lines(caplog_hook)[-1] or not hook_lines(caplog_hook)[-1]["dropped"]
    )
    assert len(claims["cognito:groups"]) == MAX_GROUPS
    assert claims["deep"] == nested(MAX_CLAIM_VALUE_DEPTH)
    assert len(token) <= MAX_TOKEN_LENGTH
    authz.verify(token)
    assert outcome(authz, rest(token, *TRANSFER, query={"amount": "1200"})) == "Allow"

    # One more group: the hook refuses to issue it, the authorizer refuses it (for the count,
    # not the length).
    with pytest.raises(AttributesUnavailable, match=r"^too_many_groups: 201 groups"):
        issue(issuer, kind, clock.now, maximal_item(extra_groups=1))
    more_groups = issuer.sign(claims | {"cognito:groups": [*claims["cognito:groups"], "one-more"]})
    assert len(more_groups) <= MAX_TOKEN_LENGTH
    with pytest.raises(InvalidToken) as info:
        authz.verify(more_groups)
    assert info.value.reason == "too_many_groups"
    assert outcome(authz, rest(more_groups, *TRANSFER, query={"amount": "1200"})) == "401"

    # One more level: the hook drops that claim, the authorizer refuses a token carrying it.
    _, shallower = issue(issuer, kind, clock.now, maximal_item(depth=MAX_CLAIM_VALUE_DEPTH + 1))
    assert "deep" not in shallower
    deeper = issuer.sign(claims | {"deep": nested(MAX_CLAIM_VALUE_DEPTH + 1)})
    assert len(deeper) <= MAX_TOKEN_LENGTH
    with pytest.raises(InvalidToken) as info:
        authz.verify(deeper)
    assert (info.value.reason, info.value.detail) == ("malformed", "payload nests deeper than 8")
    assert outcome(authz, rest(deeper, *TRANSFER, query={"amount": "1200"})) == "401"


def test_the_groups_iam_roles_and_the_asked_scopes_are_counted_in_their_tokens_room(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    """Cognito writes `cognito:roles` and `cognito:preferred_role` into the ID token (from the
    groups' IAM roles) and the asked scopes into the access token's `scope`: uncounted, a whole
    token passed MAX_TOKEN_LENGTH and every request of that user was refused as too long."""
    item = sample_item() | {"notes": "n" * 3400}
    plain = run(user_event("2"), RecordingSource({SUB: item}))
    assert added(plain, "idTokenGeneration")["notes"] == added(plain)["notes"] == "n" * 3400
    roles = [f"arn:aws:iam::123456789012:role/group-role-{i:02d}" for i in range(25)]
    with_roles = user_event("2")
    with_roles["request"]["groupConfiguration"]["iamRolesToOverride"] = roles
    with_roles["request"]["groupConfiguration"]["preferredRole"] = roles[0]
    out = run(with_roles, RecordingSource({SUB: item}))
    assert "notes" not in added(out, "idTokenGeneration")  # marked incomplete instead
    assert added(out, "idTokenGeneration")[INCOMPLETE_CLAIM] is True
    assert added(out)["notes"] == "n" * 3400  # the access token carries no roles
    scoped = user_event("2")
    scoped["request"]["scopes"] = [
        f"https://api.example.com/scope-{i:02d}.{'s' * 30}" for i in range(33)
    ]
    out = run(scoped, RecordingSource({SUB: item}))
    assert "notes" not in added(out) and added(out)[INCOMPLETE_CLAIM] is True
    assert added(out, "idTokenGeneration")["notes"] == "n" * 3400


@pytest.mark.parametrize(
    ("attribute", "tokens"),
    [
        ({"risk": {"level": 9, "evidence": b"\x00"}}, ("id", "access")),  # a binary member
        ({"limits": {"__src": "import", "blocked": ["feed"]}}, ("id", "access")),  # Cedar's `__`
        ({"address": {"country": "KP"}}, ("id",)),  # the ID token's `address` is text only
    ],
)
def test_an_item_value_a_token_cannot_carry_marks_that_token_incomplete(
    attribute: dict[str, Any], tokens: tuple[str, ...]
) -> None:
    """Left out whole and unmarked, `forbid ... when { principal.risk.level >= 9 }` did not
    hold for a token the authorizer accepted."""
    out = run(user_event("2"), RecordingSource({SUB: sample_item() | attribute}))
    for token, key in (("id", "idTokenGeneration"), ("access", "accessTokenGeneration")):
        assert (INCOMPLETE_CLAIM in added(out, key)) is (token in tokens), token
