"""Pure claim logic: guards, typing, mapping, groups, size budget."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pre_token_hook.claims import (
    PROTECTED_CLAIMS,
    ClaimRule,
    Drop,
    UnsupportedValue,
    apply_budget,
    claim_name_problem,
    claims_size,
    default_rules,
    guard_claims,
    item_groups,
    map_item,
    merge_groups,
    to_claim_value,
    v1_string,
)
from pre_token_hook.errors import AttributesUnavailable
from tests.pre_token_hook.hook_support import sample_item

COGNITO_NON_OVERRIDABLE = [
    "acr", "amr", "aud", "at_hash", "auth_time", "azp", "cognito:username", "exp", "iat",
    "identities", "iss", "jti", "nbf", "nonce", "origin_jti", "sub", "token_use", "client_id",
    "username", "event_id", "version", "device_key", "scope",
]  # fmt: skip
BOTH = frozenset({"id", "access"})

# --- guards -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COGNITO_NON_OVERRIDABLE)
def test_every_non_overridable_cognito_claim_is_refused(name: str) -> None:
    assert claim_name_problem(name) == "protected_claim"
    assert claim_name_problem(name.upper()) == "protected_claim"


def test_the_protected_list_is_exactly_cognitos() -> None:
    assert frozenset(COGNITO_NON_OVERRIDABLE) == PROTECTED_CLAIMS


@pytest.mark.parametrize("name", ["cognito:groups", "cognito:roles", "cognito:x", "dev:flag"])
def test_reserved_prefixes_are_refused(name: str) -> None:
    assert claim_name_problem(name) == "reserved_prefix"


@pytest.mark.parametrize("name", ["cognito", "dev", "custom", "Custom"])
def test_names_that_break_avp_consumers_are_refused(name: str) -> None:
    assert claim_name_problem(name) == "reserved_name"


@pytest.mark.parametrize(
    "name", ["tenant", "dailyLimit", "custom:tenant", "permissions", "subject", "scopes", "devs"]
)
def test_ordinary_names_pass(name: str) -> None:
    assert claim_name_problem(name) is None


def test_empty_name_is_refused() -> None:
    assert claim_name_problem(" ") == "empty_name"


# --- typing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (Decimal(5000), 5000),
        (Decimal("5000.0"), 5000),
        # Cedar has no floats: a fraction is its exact text (a schema's `decimal` reads it).
        (Decimal("12.5"), "12.5"),
        (Decimal(2**70), str(2**70)),  # past Cedar's Long: text too
        (Decimal("-3"), -3),
        (Decimal("1E+2"), 100),
        (True, True),
        ("acme", "acme"),
        ({"b", "a", "c"}, ["a", "b", "c"]),
        ({Decimal(10), Decimal(2), Decimal("1.5")}, ["1.5", 2, 10]),
        ([Decimal(1), "x", False], [1, "x", False]),
        (
            {"invoices": {"view": True, "limit": Decimal(3)}},
            {"invoices": {"view": True, "limit": 3}},
        ),
        ([], []),
    ],
)
def test_values_are_typed_for_v2(raw: Any, expected: Any) -> None:
    value = to_claim_value(raw)
    assert value == expected
    assert type(value) is type(expected)


def test_integral_decimals_become_json_ints_not_floats() -> None:
    assert json.dumps(to_claim_value(Decimal(5000))) == "5000"
    assert json.dumps(to_claim_value([Decimal("7.00")])) == "[7]"


def test_a_number_no_float_holds_exactly_is_given_as_its_exact_text() -> None:
    """Through float, 99.99999999999999999999 became 100.0 (and 9007199254740993.5 became
    9007199254740994.0): a limit the policies read moved. The authorizer reads the text as the
    schema types it (a `decimal` with more than 4 places is refused there, never rounded)."""
    assert to_claim_value(Decimal("99.99999999999999999999")) == "99.99999999999999999999"
    assert to_claim_value(Decimal("9007199254740993.5")) == "9007199254740993.5"
    assert to_claim_value(Decimal("0.1")) == "0.1"
    assert to_claim_value(4.5) == "4.5"
    assert to_claim_value({Decimal("1.5"), Decimal("0.30000000000000000001"), Decimal(2)}) == [
        "0.30000000000000000001", "1.5", 2,
    ]  # fmt: skip


def test_what_an_authorizer_without_a_schema_refuses_is_never_emitted() -> None:
    """A float (4.5), an integer past Cedar's Long and a map key in Cedar's own `__` forms were
    emitted in V2/V3 tokens, and an authorizer without a schema refused every token of that
    user (401 bad_claim): the hook must not issue a token the authorizer refuses."""
    from authorizer.cedar.coerce import claims_record  # noqa: PLC0415

    for raw in (Decimal("4.5"), 4.5, Decimal(2**64), -(2**64), {"n": Decimal("0.25")}):
        claims_record({"x": to_claim_value(raw)}, None, "claim")  # taken, not refused
    for raw in ({"__entity": {"type": "T", "id": "x"}}, {"a": {"__extn": "x"}}):
        with pytest.raises(UnsupportedValue):
            to_claim_value(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00",
        {b"a"},
        Decimal("NaN"),
        {Decimal("NaN"), Decimal(1)},
        float("inf"),
        [b"x"],
        {"a": object()},
        {1: "x"},
    ],
)
def test_values_without_a_json_form_are_unsupported(raw: Any) -> None:
    with pytest.raises(UnsupportedValue):
        to_claim_value(raw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme", "acme"),
        (5000, "5000"),
        (12.5, "12.5"),
        (True, "true"),
        (["employee:read"], '["employee:read"]'),
        ({"view": True}, '{"view":true}'),
        ('with "quotes"', 'with "quotes"'),
    ],
)
def test_v1_values_are_strings_non_strings_as_compact_json(value: Any, expected: str) -> None:
    assert v1_string(value) == expected


# --- mapping ----------------------------------------------------------------------------------


def test_default_mapping_skips_sub_and_groups_and_keeps_the_rest() -> None:
    rules = default_rules(sample_item(), ("sub", "groups"))
    assert [r.attribute for r in rules] == [
        "tenant", "department", "permissions", "roles", "dailyLimit",
    ]  # fmt: skip
    assert all(r.claim == r.attribute and r.tokens == BOTH for r in rules)


def test_sample_item_maps_to_typed_claims_in_both_tokens() -> None:
    claims, drops = map_item(
        sample_item(), default_rules(sample_item(), ("sub", "groups")), ("id", "access")
    )
    expected = {
        "tenant": "acme",
        "department": "engineering",
        "permissions": ["employee:read"],
        "roles": ["viewer"],
        "dailyLimit": 5000,
    }
    assert claims == {"id": expected, "access": expected}
    assert drops == []


def test_declared_mapping_renames_and_routes_to_tokens() -> None:
    rules = [
        ClaimRule("tenant", "tenant_id", frozenset({"access"})),
        ClaimRule("department", "dept", frozenset({"id"})),
        ClaimRule("absent", "absent", BOTH),
    ]
    claims, drops = map_item(sample_item(), rules, ("id", "access"))
    assert claims == {"id": {"dept": "engineering"}, "access": {"tenant_id": "acme"}}
    assert drops == []


def test_v1_only_fills_the_id_token() -> None:
    rules = [ClaimRule("tenant", "tenant", frozenset({"access"}))]
    claims, drops = map_item(sample_item(), rules, ("id",))
    assert claims == {"id": {}}
    assert drops == []


def test_attributes_that_would_make_forbidden_claims_are_skipped_with_reasons() -> None:
    item = {
        "sub": "s",
        "iss": "https://evil",
        "cognito:groups": ["admins"],
        "custom": "x",
        "blob": b"\x01",
        "nothing": None,
        "ok": "yes",
    }
    claims, drops = map_item(item, default_rules(item, ("sub",)), ("id", "access"))
    assert claims == {"id": {"ok": "yes"}, "access": {"ok": "yes"}}
    reasons = {(d.claim, d.token): d.reason for d in drops}
    assert reasons == {
        ("iss", "id"): "protected_claim",
        ("iss", "access"): "protected_claim",
        ("cognito:groups", "id"): "reserved_prefix",
        ("cognito:groups", "access"): "reserved_prefix",
        ("custom", "id"): "reserved_name",
        ("custom", "access"): "reserved_name",
        ("blob", "id"): "binary_value",
        ("blob", "access"): "binary_value",
        ("nothing", "id"): "null_value",
        ("nothing", "access"): "null_value",
    }


def test_complex_values_for_scalar_only_standard_claims_stay_out_of_the_id_token() -> None:
    item = {"address": {"street": "x"}, "email_verified": True}
    claims, drops = map_item(item, default_rules(item, ()), ("id", "access"))
    assert claims["id"] == {"email_verified": True}
    assert claims["access"] == {"address": {"street": "x"}, "email_verified": True}
    assert drops == [Drop("address", "id", "complex_value_not_allowed")]


def test_guard_claims_keeps_allowed_and_drops_protected() -> None:
    kept, drops = guard_claims({"family_name": "xyz", "sub": "x", "cognito:groups": "a"}, "id")
    assert kept == {"family_name": "xyz"}
    assert {d.claim for d in drops} == {"sub", "cognito:groups"}


# --- groups -----------------------------------------------------------------------------------


def test_item_groups_reads_lists_and_sets_and_dedupes() -> None:
    assert item_groups({"groups": ["b", "a", "b"]}, "groups") == ["b", "a"]
    assert item_groups({"groups": {"z", "a"}}, "groups") == ["a", "z"]
    assert item_groups({"groups": []}, "groups") == []


def test_item_without_groups_says_nothing_about_groups() -> None:
    assert item_groups({"tenant": "acme"}, "groups") is None
    assert item_groups({"groups": ["a"]}, None) is None


@pytest.mark.parametrize("raw", ["hr", Decimal(1), [1, 2], ["ok", ""], {"a": "b"}, None])
def test_groups_that_are_not_a_list_of_names_make_the_item_malformed(raw: Any) -> None:
    with pytest.raises(AttributesUnavailable) as info:
        item_groups({"groups": raw}, "groups")
    assert info.value.reason == "malformed_item"


def test_merge_groups_extend_keeps_order_and_dedupes() -> None:
    assert merge_groups(["a", "b"], ["b", "c", "c"], "extend") == ["a", "b", "c"]


def test_merge_groups_override_replaces() -> None:
    assert merge_groups(["a", "b"], ["c"], "override") == ["c"]
    assert merge_groups(["a"], [], "override") == []


# --- budget -----------------------------------------------------------------------------------


def test_budget_leaves_fitting_claims_alone() -> None:
    claims = {"tenant": "acme", "dailyLimit": 5000}
    assert apply_budget(claims, claims_size(claims), "id") == (claims, [])


def test_budget_drops_largest_first_ties_by_name() -> None:
    claims = {"a": "x" * 10, "b": "y" * 10, "big": "z" * 100, "t": "acme"}
    # "big" goes first; then "a" and "b" tie on size and "a" sorts first.
    budget = claims_size({"b": "y" * 10, "t": "acme"})
    kept, drops = apply_budget(claims, budget, "access")
    assert kept == {"b": "y" * 10, "t": "acme"}
    assert [(d.claim, d.reason) for d in drops] == [("big", "token_budget"), ("a", "token_budget")]
    assert drops[0].size_bytes == len('"big":"' + "z" * 100 + '"')


def test_budget_counts_escaped_bytes_not_characters() -> None:
    # 10 characters, 20 bytes of UTF-8, 60 as \u00e9 escapes: Cognito may write either, so the
    # larger is counted and a token within the budget is within it however it is serialized.
    claims = {"n": "é" * 10}
    assert claims_size(claims) == len('{"n":""}') + 60
    kept, drops = apply_budget(claims, claims_size(claims) - 1, "id")
    assert kept == {}
    assert [d.claim for d in drops] == ["n"]


json_leaf = st.one_of(st.text(max_size=30), st.integers(-(10**6), 10**6), st.booleans())
claims_strategy = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(json_leaf, st.lists(json_leaf, max_size=5)),
    max_size=12,
)


@given(claims=claims_strategy, budget=st.integers(2, 600))
def test_budget_properties(claims: dict[str, Any], budget: int) -> None:
    kept, drops = apply_budget(claims, budget, "id")
    # Fits, and never drops more than needed: the largest are dropped first, in a fixed order.
    assert claims_size(kept) <= budget
    dropped = [d.claim for d in drops]
    assert set(dropped) | set(kept) == set(claims)
    sizes = {
        n: len(json.dumps({n: v}, separators=(",", ":"), ensure_ascii=True)) - 2
        for n, v in claims.items()
    }
    order = sorted(claims, key=lambda n: (-sizes[n], n))
    assert dropped == order[: len(dropped)]
    if dropped:
        restored = {**kept, dropped[-1]: claims[dropped[-1]]}
        assert claims_size(restored) > budget
    # Independent of the input's order.
    reversed_claims = dict(reversed(list(claims.items())))
    kept_again, drops_again = apply_budget(reversed_claims, budget, "id")
    assert kept_again == kept
    assert drops_again == drops
