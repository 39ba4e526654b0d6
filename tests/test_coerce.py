"""authorizer.cedar.coerce: claim and request values -> Cedar JSON values.

With a schema type, a value takes that type or is dropped; without one, JSON maps to its natural
Cedar form and can never pass for a typed value (`__entity` / `__extn`). Every extension literal
coerce accepts is checked against Cedar itself: one literal Cedar refuses makes cedarpy refuse
the whole request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.cedar.coerce import (
    DROPPED,
    MAX_DEPTH,
    datetime_value,
    epoch_to_datetime,
    ip_value,
    record,
    to_cedar,
)
from authorizer.cedar.schema import (
    Attribute,
    CedarType,
    EntityRef,
    ExtensionType,
    Primitive,
    RecordType,
    SetType,
    load_schema,
)

ROOT = Path(__file__).resolve().parent.parent
I64_MAX, I64_MIN = 2**63 - 1, -(2**63)

STRING, LONG, BOOL = Primitive("String"), Primitive("Long"), Primitive("Boolean")
IPADDR, DECIMAL = ExtensionType("ipaddr"), ExtensionType("decimal")
DATETIME, DURATION = ExtensionType("datetime"), ExtensionType("duration")
FUNCTION = {"ipaddr": "ip", "decimal": "decimal", "datetime": "datetime", "duration": "duration"}


def rec(additional: bool = False, **attributes: CedarType | Attribute) -> RecordType:
    """A record type; an attribute given as a bare type is required."""
    attrs = {
        name: a if isinstance(a, Attribute) else Attribute(a) for name, a in attributes.items()
    }
    return RecordType(MappingProxyType(attrs), additional)


def extn(fn: str, arg: str) -> dict[str, Any]:
    return {"__extn": {"fn": fn, "arg": arg}}


def entity(type_name: str, id: str) -> dict[str, Any]:
    return {"__entity": {"type": type_name, "id": id}}


def cedar_refusal(value: Any) -> list[str] | None:
    """None when Cedar builds a request whose context holds ``value``; else Cedar's errors."""
    request = {
        "principal": {"type": "User", "id": "u"},
        "action": {"type": "Action", "id": "a"},
        "resource": {"type": "Resource", "id": "r"},
        "context": {"v": value},
    }
    policy = "permit (principal, action, resource) when { context.v == context.v };"
    result = cedarpy.is_authorized(request, policy, [])
    errors = list(result.diagnostics.errors)
    return None if result.allowed and not errors else errors or [result.decision.value]


def dunder_keys(value: Any) -> list[str]:
    """Every dict key starting with `__`, at any depth."""
    if isinstance(value, dict):
        own = [k for k in value if isinstance(k, str) and k.startswith("__")]
        return own + [k for v in value.values() for k in dunder_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in dunder_keys(v)]
    return []


def nested(depth: int, leaf: Any, kind: str = "dict") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if kind == "dict" else [value]
    return value


# --- untyped: no schema ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("", ""),
        (True, True),
        (False, False),
        (0, 0),
        (-42, -42),
        (I64_MAX, I64_MAX),
        (I64_MIN, I64_MIN),
        (I64_MAX + 1, DROPPED),
        (I64_MIN - 1, DROPPED),
        (5.0, 5),
        (5.5, DROPPED),
        (1e19, DROPPED),  # integral but beyond a Long
        (float("nan"), DROPPED),
        (float("inf"), DROPPED),
        (None, DROPPED),
        ([1, "a", True], [1, "a", True]),
        ([1, None, "a", 2.5, True], DROPPED),  # a list is all or nothing, as a set is
        ({"a": 1, "b": None, "c": [None]}, {"a": 1}),  # a record's key: absent, as if not sent
        ({1: "non-string key", "k": "v"}, {"k": "v"}),
        ((1, 2), DROPPED),  # JSON has no tuples
        (b"bytes", DROPPED),
        ({"x", "y"}, DROPPED),
    ],
)
def test_untyped(value: Any, expected: Any) -> None:
    result = to_cedar(value, None)
    assert result is DROPPED if expected is DROPPED else result == expected
    if expected is not DROPPED:
        assert type(result) is type(expected)  # 5.0 becomes the int 5, not a float


FORGERIES: list[Any] = [
    entity("Corp::UserGroup", "admins"),
    extn("ip", "10.0.0.1"),
    {"__entity": 'Corp::User::"admin"'},
    {"__expr": 'Corp::User::"admin"'},  # Cedar's old escape
    {"__extn": {"fn": "decimal", "arg": "1.0"}, "other": 1},
    {"__anything": 1},
]


@pytest.mark.parametrize("forged", FORGERIES)
def test_untyped_claim_cannot_forge_a_typed_value(forged: Any) -> None:
    assert to_cedar(forged, None) is DROPPED
    assert to_cedar([forged, "ok"], None) is DROPPED  # a list is all or nothing
    assert to_cedar({"boss": forged, "name": "n"}, None) == {"name": "n"}
    assert to_cedar({"a": {"b": [forged]}}, None) == {"a": {}}


@pytest.mark.parametrize("forged", FORGERIES)
def test_undeclared_attribute_of_an_open_record_cannot_forge(forged: Any) -> None:
    open_record = rec(additional=True, name=STRING)
    assert record({"name": "n", "boss": forged}, open_record) == {"name": "n"}


@pytest.mark.parametrize(
    "forged", [{"__entity": {"type": "Corp::User", "id": "admin"}}, extn("ip", "10.0.0.1")]
)
def test_open_record_itself_cannot_be_forged(forged: dict[str, Any]) -> None:
    claims = rec(token=rec(additional=True))
    result = record({"token": forged}, claims)
    assert dunder_keys(result) == []


def test_forged_entity_claim_does_not_reach_cedar_as_an_entity() -> None:
    """End to end: the claim is dropped, so a policy comparing it to an entity cannot hold."""
    claims = {"boss": entity("User", "admin"), "name": "mallory"}
    request = {
        "principal": {"type": "User", "id": "mallory"},
        "action": {"type": "Action", "id": "a"},
        "resource": {"type": "Resource", "id": "r"},
        "context": {"token": to_cedar(claims, None)},
    }
    policy = 'permit (principal, action, resource) when { context.token.boss == User::"admin" };'
    unshaped = cedarpy.is_authorized({**request, "context": {"token": claims}}, policy, [])
    assert unshaped.allowed  # what the forgery would do without coerce
    result = cedarpy.is_authorized(request, policy, [])
    assert not result.allowed


def test_a_set_with_an_element_that_cannot_be_typed_is_absent_never_shortened() -> None:
    """End to end: shortened, ["1", "x"] would reach Cedar as [1], a subset of what a policy
    allows, and permit; absent, the policy sees no such claim and does not."""
    flags = rec(flags=Attribute(SetType(LONG), required=False))
    request = {
        "principal": {"type": "User", "id": "u"},
        "action": {"type": "Action", "id": "a"},
        "resource": {"type": "Resource", "id": "r"},
    }
    policy = (
        "permit (principal, action, resource) "
        "when { context.token has flags && [1, 2].containsAll(context.token.flags) };"
    )

    def decide(claims: dict[str, Any]) -> bool:
        context = {"token": record(claims, flags)}
        return bool(cedarpy.is_authorized({**request, "context": context}, policy, []).allowed)

    assert decide({"flags": ["1", "2"]})
    assert not decide({"flags": ["1", "3"]})
    assert record({"flags": ["1", "x"]}, flags) == {}
    assert not decide({"flags": ["1", "x"]})


def test_untyped_depth_is_bounded() -> None:
    kept = to_cedar(nested(MAX_DEPTH, "leaf"), None)
    assert json.dumps(kept).count("leaf") == 1
    cut = to_cedar(nested(MAX_DEPTH + 1, "leaf"), None)
    assert "leaf" not in json.dumps(cut)
    # Lists are all or nothing: the element beyond the limit drops every list around it.
    assert to_cedar(nested(MAX_DEPTH + 1, 1, "list"), None) is DROPPED
    assert to_cedar({"kept": 1, "deep": nested(MAX_DEPTH, 1, "list")}, None) == {"kept": 1}


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_very_deep_values_do_not_recurse_without_bound(kind: str) -> None:
    deep = nested(50_000, "x", kind)
    to_cedar(deep, None)  # no RecursionError
    assert to_cedar(deep, SetType(STRING)) is not None
    # a record of a record of a String: the String slot gets a container and is dropped
    assert record({"a": deep}, rec(a=rec(a=STRING))) == ({"a": {}} if kind == "dict" else {})


def test_depth_beyond_the_limit_is_dropped() -> None:
    assert to_cedar("x", STRING, depth=MAX_DEPTH) == "x"
    assert to_cedar("x", STRING, depth=MAX_DEPTH + 1) is DROPPED
    deep_set: CedarType = STRING
    for _ in range(MAX_DEPTH + 2):
        deep_set = SetType(deep_set)
    assert to_cedar(nested(MAX_DEPTH + 2, "x", "list"), deep_set) is DROPPED


# --- primitives --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5000", 5000),
        (" 42 ", 42),
        ("-7", -7),
        ("0", 0),
        (5000, 5000),
        (5.0, 5),
        (str(I64_MAX), I64_MAX),
        (str(I64_MIN), I64_MIN),
        (str(I64_MAX + 1), DROPPED),
        ("12345678901234567890", DROPPED),
        ("123456789012345678901", DROPPED),
        (I64_MAX + 1, DROPPED),
        (I64_MIN - 1, DROPPED),
        (1e19, DROPPED),
        (5.5, DROPPED),
        ("5.0", DROPPED),
        ("1e3", DROPPED),
        ("0x10", DROPPED),
        ("+5", DROPPED),
        ("", DROPPED),
        ("five", DROPPED),
        (True, DROPPED),
        (False, DROPPED),
        (float("nan"), DROPPED),
        (float("inf"), DROPPED),
        ([5], DROPPED),
        ({"v": 5}, DROPPED),
        (None, DROPPED),
    ],
)
def test_long(value: Any, expected: Any) -> None:
    result = to_cedar(value, LONG)
    assert (
        result is DROPPED if expected is DROPPED else (result == expected and type(result) is int)
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("TRUE", True),
        (" False ", False),
        ("yes", DROPPED),
        ("1", DROPPED),
        (1, DROPPED),
        (0, DROPPED),
        ("", DROPPED),
        (None, DROPPED),
    ],
)
def test_boolean(value: Any, expected: Any) -> None:
    result = to_cedar(value, BOOL)
    assert result is expected  # True/False/DROPPED are singletons


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", "x"),
        ("", ""),
        (5, "5"),
        (-5, "-5"),
        (True, DROPPED),
        (1.5, DROPPED),
        (["a"], DROPPED),
        ({"a": "b"}, DROPPED),
        (entity("User", "u"), DROPPED),
        (None, DROPPED),
    ],
)
def test_string(value: Any, expected: Any) -> None:
    result = to_cedar(value, STRING)
    assert result is DROPPED if expected is DROPPED else result == expected


# --- sets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "element", "expected"),
    [
        (["invoices:view", "invoices:edit"], STRING, ["invoices:view", "invoices:edit"]),
        ('["invoices:view", "reports:export"]', STRING, ["invoices:view", "reports:export"]),
        ("openid employee:read  email", STRING, ["openid", "employee:read", "email"]),
        ("", STRING, []),
        ([], STRING, []),
        (["a", 5], STRING, ["a", "5"]),
        ('["1", 2, 3.0]', LONG, [1, 2, 3]),
        ("1 2", LONG, [1, 2]),
        # All or nothing: one element that cannot take the type drops the set, never itself.
        (["a", 5, None, True, ["b"]], STRING, DROPPED),
        ('["1", 2, "x", 3.0]', LONG, DROPPED),
        ("1 2 x", LONG, DROPPED),
        ("[not json", STRING, DROPPED),
        ('{"a": 1}', STRING, ['{"a":', "1}"]),  # not an array: words
        (5, STRING, DROPPED),
        ({"a": 1}, STRING, DROPPED),
        (("a", "b"), STRING, DROPPED),
        (["admins"], EntityRef("Corp::UserGroup"), [entity("Corp::UserGroup", "admins")]),
        (["admins", ""], EntityRef("Corp::UserGroup"), DROPPED),
        (["10.0.0.0/8"], IPADDR, [extn("ip", "10.0.0.0/8")]),
        (["10.0.0.0/8", "bogus"], IPADDR, DROPPED),
    ],
)
def test_set(value: Any, element: CedarType, expected: Any) -> None:
    result = to_cedar(value, SetType(element))
    assert result is DROPPED if expected is DROPPED else result == expected


# --- records -----------------------------------------------------------------------------------

PROFILE = rec(
    tenant=STRING,
    dailyLimit=Attribute(LONG, required=False),
    permissions=Attribute(SetType(STRING), required=False),
    invoices=Attribute(rec(view=BOOL, edit=Attribute(BOOL, required=False)), required=False),
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"tenant": "acme", "dailyLimit": "5000", "custom:unknown": "x", "sub": "u-1"},
            {"tenant": "acme", "dailyLimit": 5000},
        ),
        ('{"tenant": "acme", "dailyLimit": "12"}', {"tenant": "acme", "dailyLimit": 12}),
        (
            {"tenant": "acme", "invoices": {"view": "true", "delete": True}},
            {"tenant": "acme", "invoices": {"view": True}},
        ),
        ({"tenant": "acme", "invoices": '{"view": false}'}, {"tenant": "acme", "invoices": {"view": False}}),
        ({"dailyLimit": "lots"}, {}),  # a required attribute missing stays missing
        ({"tenant": "acme", "permissions": "a b"}, {"tenant": "acme", "permissions": ["a", "b"]}),
        ({}, {}),
        ("{not json", DROPPED),
        ('["tenant"]', DROPPED),
        ("tenant=acme", DROPPED),
        (["tenant", "acme"], DROPPED),
        (None, DROPPED),
    ],
)  # fmt: skip
def test_record_keeps_declared_attributes_only(value: Any, expected: Any) -> None:
    for result in (record(value, PROFILE), to_cedar(value, PROFILE)):
        assert result is DROPPED if expected is DROPPED else result == expected


def test_open_record_keeps_undeclared_attributes_untyped() -> None:
    open_record = rec(additional=True, level=LONG)
    value = {"level": "3", "extra": {"n": 2.0, "gone": None}, "drop": 1.5}
    assert record(value, open_record) == {"level": 3, "extra": {"n": 2}}


def test_sample_schema_directs_cognito_style_claims() -> None:
    """Cognito sends custom attributes as strings; coerced, they validate against the schema."""
    model = load_schema(ROOT / "schemas" / "corp.cedarschema")
    user = model.entity_type("Corp::User")
    assert user is not None
    claims = {
        "tenant": "acme",
        "dailyLimit": "5000",
        "permissions": '["invoices:view"]',
        "roles": "viewer editor",
        "email": "pat@example.com",
        "custom:costCenter": "cc-1",
        "cognito:username": "pat",
    }
    attrs = record(claims, user.attributes)
    assert attrs == {
        "tenant": "acme",
        "dailyLimit": 5000,
        "permissions": ["invoices:view"],
        "roles": ["viewer", "editor"],
        "email": "pat@example.com",
    }

    def decide(principal_attrs: Mapping[str, Any]) -> cedarpy.AuthzResult:
        request = {
            "principal": {"type": "Corp::User", "id": "pat"},
            "action": {"type": "Corp::Action", "id": "get /invoices"},
            "resource": {"type": "Corp::Application", "id": "Corp"},
            "context": {
                "token": {},
                "request": {
                    "method": "GET",
                    "path": "/invoices",
                    "route": "/invoices",
                    "time": datetime_value(1_795_000_000),
                },
            },
        }
        entities = [
            {
                "uid": {"type": "Corp::User", "id": "pat"},
                "attrs": dict(principal_attrs),
                "parents": [],
            },
            {"uid": {"type": "Corp::Application", "id": "Corp"}, "attrs": {}, "parents": []},
        ]
        policy = (
            "permit (principal, action, resource) when { principal has dailyLimit && "
            'principal.dailyLimit > 4000 && principal.permissions.contains("invoices:view") };'
        )
        return cedarpy.is_authorized(request, policy, entities, schema=json.dumps(model.json))

    coerced = decide(attrs)
    assert coerced.allowed and not list(coerced.diagnostics.errors)
    assert not decide(claims).allowed  # the raw claims do not fit the schema


# --- entity references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice", entity("Corp::User", "alice")),
        ("us-east-1_X|alice", entity("Corp::User", "us-east-1_X|alice")),
        ("", DROPPED),
        (5, DROPPED),
        (entity("Corp::User", "admin"), DROPPED),  # never taken as given
        ({"type": "Corp::User", "id": "admin"}, DROPPED),
        (["alice"], DROPPED),
    ],
)
def test_entity_reference(value: Any, expected: Any) -> None:
    result = to_cedar(value, EntityRef("Corp::User"))
    assert result is DROPPED if expected is DROPPED else result == expected


# --- extension types ---------------------------------------------------------------------------

ACCEPTED: list[tuple[ExtensionType, Any, str]] = [
    (IPADDR, "10.0.0.1", "10.0.0.1"),
    (IPADDR, "10.0.0.0/8", "10.0.0.0/8"),
    (IPADDR, "1.2.3.4/8", "1.2.3.4/8"),
    (IPADDR, "::1", "::1"),
    (IPADDR, "2001:db8::/32", "2001:db8::/32"),
    (IPADDR, extn("ip", "192.0.2.1"), "192.0.2.1"),
    (DECIMAL, "1.5", "1.5"),
    (DECIMAL, "-0.0001", "-0.0001"),
    (DECIMAL, "922337203685477.5807", "922337203685477.5807"),
    (DECIMAL, 12, "12.0000"),
    (DECIMAL, 1.25, "1.2500"),
    (DECIMAL, 0.1, "0.1000"),  # the float nearest 0.1 is 0.1 to Cedar's 4 places
    (DECIMAL, "2500", "2500.0"),  # a Cognito Number attribute: it locked the user out (401)
    (DECIMAL, " -7 ", "-7.0"),
    (DECIMAL, extn("decimal", "3.14"), "3.14"),
    (DATETIME, "2024-02-29", "2024-02-29"),
    (DATETIME, "0000-01-01", "0000-01-01"),  # Cedar's first year; Python's date has none
    (DATETIME, "0000-02-29", "0000-02-29"),
    (DATETIME, "2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    (DATETIME, "2024-01-01T10:00:00.123Z", "2024-01-01T10:00:00.123Z"),
    (DATETIME, "2024-01-01T10:00:00-0130", "2024-01-01T10:00:00-0130"),
    (DATETIME, 1_700_000_000, "2023-11-14T22:13:20.000Z"),
    (DATETIME, 1_700_000_000.5, "2023-11-14T22:13:20.500Z"),
    (DATETIME, 1_700_000_000.123, "2023-11-14T22:13:20.123Z"),
    (DATETIME, extn("datetime", "2024-01-01"), "2024-01-01"),
    (DURATION, "1d2h3m4s5ms", "1d2h3m4s5ms"),
    (DURATION, "-1h", "-1h"),
    (DURATION, "500ms", "500ms"),
    (DURATION, 90, "90s"),
    (DURATION, extn("duration", "2h"), "2h"),
]


@pytest.mark.parametrize(("cedar_type", "value", "arg"), ACCEPTED)
def test_extension_accepted(cedar_type: ExtensionType, value: Any, arg: str) -> None:
    result = to_cedar(value, cedar_type)
    assert result == extn(FUNCTION[cedar_type.name], arg)
    assert cedar_refusal(result) is None  # Cedar takes it


@pytest.mark.parametrize(
    ("cedar_type", "value"),
    [
        (IPADDR, "10.0.0.256"),
        (IPADDR, "1.2.3.4/33"),
        (IPADDR, "010.1.1.1"),
        # A prefix length with a leading zero: Cedar refuses it, Python reads it (a 500).
        (IPADDR, "10.0.0.0/08"),
        (IPADDR, "10.0.0.0/008"),
        (IPADDR, "::/00"),
        (IPADDR, "::1/0128"),
        (IPADDR, "10.0.0.0/+8"),
        (IPADDR, "localhost"),
        (IPADDR, ""),
        (IPADDR, 167772161),
        (IPADDR, extn("decimal", "10.0.0.1")),  # the wrong function
        (IPADDR, extn("ip", "not an ip")),  # Cedar's form, re-checked
        (IPADDR, {"__extn": "10.0.0.1"}),
        (DECIMAL, "1.23456"),
        (DECIMAL, "1."),
        (DECIMAL, ".5"),
        (DECIMAL, "1e3"),
        (DECIMAL, "1234567890123456.0"),
        (DECIMAL, True),
        (DECIMAL, 1e20),
        # More places than Cedar's 4: never rounded (100.0000 would pass `greaterThan(100.0)`).
        (DECIMAL, 100.00004),
        (DECIMAL, 0.99999),
        (DECIMAL, 0.00004),
        # A finer part than Cedar's milliseconds: never rounded (T + 0.4 ms passed `> T`).
        (DATETIME, 1_700_000_000.0004),
        (DATETIME, 1_700_000_000.9996),
        (DECIMAL, float("nan")),
        (DATETIME, "2024-1-1"),
        (DATETIME, "2024-01-01T10:00Z"),
        (DATETIME, "2024-01-01 10:00:00Z"),
        (DATETIME, "2024-01-01T10:00:00"),
        (DATETIME, "yesterday"),
        (DATETIME, True),
        (DURATION, ""),
        (DURATION, "-"),
        (DURATION, "1h1d"),
        (DURATION, "1w"),
        (DURATION, "1.5h"),
        (DURATION, 1.5),
        (DURATION, True),
        (DURATION, extn("datetime", "1h")),
        # A trailing newline: `$` matches before one, and `int("5\n00")` then raised (a 500)
        # or Cedar refused the entity (a 500 too). Whole-string matches only.
        (DECIMAL, "100.5\n"),
        (DECIMAL, "4.0\n"),
        (DATETIME, "2026-01-01\n"),
        (DATETIME, "2026-01-01T10:00:00Z\n"),
        (DURATION, "1h\n"),
        (DURATION, "2h\n"),
    ],
)
def test_extension_refused(cedar_type: ExtensionType, value: Any) -> None:
    assert to_cedar(value, cedar_type) is DROPPED


@pytest.mark.parametrize(
    ("cedar_type", "value"),
    [
        (DECIMAL, "42"),  # Cedar wants the decimal point
        (DECIMAL, "999999999999999.9999"),
        (DECIMAL, "922337203685477.5808"),
        (DECIMAL, 999_999_999_999_999),
        (DECIMAL, "\u0661.\u0665"),  # Arabic-Indic digits
        (DATETIME, "2024-13-45"),
        (DATETIME, "2023-02-29T00:00:00Z"),
        (DATETIME, "2024-01-01T25:61:61Z"),
        (DATETIME, "2024-01-01T00:00:00+2500"),
        (DATETIME, "\u0662\u0660\u0662\u0664-01-01"),
        (DURATION, "99999999999999999999d"),
        (DURATION, 10**30),
        (DURATION, "\u0665s"),
        (IPADDR, "::ffff:1.2.3.4"),
        (IPADDR, "fe80::1%eth0"),
    ],
)
def test_extension_literal_cedar_refuses_is_dropped(cedar_type: ExtensionType, value: Any) -> None:
    result = to_cedar(value, cedar_type)
    assert result is DROPPED or cedar_refusal(result) is None


@pytest.mark.parametrize("seconds", [1e20, -1e12, 253_402_300_800, float("nan"), float("inf")])
def test_out_of_range_epoch_is_dropped(seconds: float) -> None:
    assert to_cedar(seconds, DATETIME) is DROPPED


def test_helpers_build_cedar_forms() -> None:
    assert ip_value("203.0.113.7") == extn("ip", "203.0.113.7")
    assert epoch_to_datetime(0) == "1970-01-01T00:00:00.000Z"
    assert epoch_to_datetime(1_795_000_000.0429) == "2026-11-18T11:06:40.042Z"
    assert datetime_value(86_400) == extn("datetime", "1970-01-02T00:00:00.000Z")
    assert cedar_refusal(datetime_value(1_795_000_000.999)) is None


# --- properties --------------------------------------------------------------------------------

# Numbers stay within the range where datetime.fromtimestamp works (out-of-range ones drop);
# out-of-range numbers have explicit tests.
NUMBERS = st.integers(-(10**10), 10**10) | st.floats(-1e10, 1e10, allow_nan=False)
STRINGS = st.text(max_size=20) | st.sampled_from(
    ["5000", "true", "[1, 2]", '{"a": 1}', "a b", "10.0.0.1", "1.5", "2024-01-01", "1h", ""]
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | STRINGS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "__entity", "__extn", "type", "id", "fn", "arg"])
                      | st.text(max_size=6), inner, max_size=4),
    max_leaves=25,
)  # fmt: skip
SCALAR_TYPES: st.SearchStrategy[CedarType] = st.sampled_from(
    [STRING, LONG, BOOL, IPADDR, DECIMAL, DATETIME, DURATION, EntityRef("NS::E")]
)
TYPES: st.SearchStrategy[CedarType] = st.recursive(
    SCALAR_TYPES,
    lambda inner: (
        st.builds(SetType, inner)
        | st.builds(
            lambda attrs, extra: rec(extra, **attrs),
            st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
            st.booleans(),
        )
    ),
    max_leaves=6,
)


def conforms(value: Any, cedar_type: CedarType) -> bool:
    """``value`` is a well-formed Cedar JSON value of ``cedar_type``."""
    if isinstance(cedar_type, Primitive):
        if cedar_type.name == "String":
            return isinstance(value, str)
        if cedar_type.name == "Boolean":
            return isinstance(value, bool)
        return type(value) is int and I64_MIN <= value <= I64_MAX
    if isinstance(cedar_type, SetType):
        return isinstance(value, list) and all(conforms(v, cedar_type.element) for v in value)
    if isinstance(cedar_type, RecordType):
        if not isinstance(value, dict):
            return False
        for name, item in value.items():
            attribute = cedar_type.attributes.get(name)
            if attribute is None:
                # The attribute's name itself may start with `__` (such names are dropped); its value
                # must hold no such key.
                if not cedar_type.additional_attributes or dunder_keys(item):
                    return False
            elif not conforms(item, attribute.type):
                return False
        return True
    if isinstance(cedar_type, EntityRef):
        return (
            isinstance(value, dict)
            and list(value) == ["__entity"]
            and value["__entity"]["type"] == cedar_type.name
            and isinstance(value["__entity"]["id"], str)
            and value["__entity"]["id"] != ""
        )
    return value == extn(FUNCTION[cedar_type.name], value["__extn"]["arg"]) and isinstance(
        value["__extn"]["arg"], str
    )


def untyped_ok(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return I64_MIN <= value <= I64_MAX
    if isinstance(value, list):
        return all(untyped_ok(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and untyped_ok(v) for k, v in value.items())
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_untyped_output_is_plain_json_and_never_typed(value: Any) -> None:
    result = to_cedar(value, None)
    if result is DROPPED:
        return
    assert untyped_ok(result)
    assert dunder_keys(result) == []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, TYPES)
def test_typed_output_conforms_to_its_type(value: Any, cedar_type: CedarType) -> None:
    result = to_cedar(value, cedar_type)
    assert result is DROPPED or conforms(result, cedar_type)


# --- claims: refused, never dropped ------------------------------------------------------------


def test_claims_that_cannot_take_their_declared_type_are_refused_by_path() -> None:
    """From verified claims (a principal's attributes, ``context.token``) a declared value that
    cannot take its type is refused; anywhere else (``record``) it is dropped, as before."""
    from authorizer.cedar.coerce import claims_record  # noqa: PLC0415
    from authorizer.errors import InvalidToken  # noqa: PLC0415

    optional = lambda t: Attribute(t, required=False)  # noqa: E731
    declared = rec(
        level=optional(LONG),
        groups=optional(SetType(rec(name=STRING, since=optional(DATETIME)))),
        address=optional(rec(country=optional(STRING))),
    )
    good = {"level": "3", "groups": [{"name": "a"}], "address": {"country": "FR"}, "other": 1.5}
    assert claims_record(good, declared, "claim") == {
        "level": 3, "groups": [{"name": "a"}], "address": {"country": "FR"},
    }  # fmt: skip
    cases = {
        "'level' is not a Long": {"level": "three"},
        "'groups.since' is not a datetime": {"groups": [{"name": "a", "since": "yesterday"}]},
        "'groups' is not a Set<": {"groups": [{"name": "a"}, "b"]},
        "'address.country' is not a String": {"address": {"country": {"code": "FR"}}},
        "'address' is not a ": {"address": "FR"},
    }
    for message, claims in cases.items():
        assert record(claims, declared) != claims  # the lenient form drops or shortens it
        with pytest.raises(InvalidToken, match=message) as refused:
            claims_record(claims, declared, "claim")
        assert refused.value.reason == "bad_claim"
    # Null is no value, and an undeclared claim is nobody's: neither is refused.
    assert claims_record({"level": None, "extra": [1.5]}, declared, "claim") == {}
