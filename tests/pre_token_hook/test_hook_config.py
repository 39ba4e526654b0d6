"""Settings from the environment: defaults, parsing, and refusals with clear messages."""

from __future__ import annotations

import json

import pytest

from pre_token_hook.claims import ClaimRule
from pre_token_hook.config import Settings, load_settings
from pre_token_hook.errors import ConfigError


def test_defaults_with_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings == Settings(
        table=None,
        mapping=None,
        groups_attribute="groups",
        groups_mode="extend",
        fail_open=False,
        budget_bytes=4096,
    )
    assert settings.excluded_attributes == ("sub", "groups")
    assert settings.projection is None


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "USER_ATTRIBUTES_TABLE": "users",
            "CLAIM_MAPPING": json.dumps(
                {
                    "tenant": {"claim": "tenant", "tokens": ["id", "access"]},
                    "dailyLimit": {"claim": "daily_limit", "tokens": ["access"]},
                    "department": {},
                }
            ),
            "GROUPS_ATTRIBUTE": "memberOf",
            "GROUPS_MODE": "override",
            "ATTRIBUTES_FAIL_OPEN": "TRUE",
            "TOKEN_CLAIMS_BUDGET_BYTES": "1024",
        }
    )
    assert settings.table == "users"
    assert settings.mapping == (
        ClaimRule("tenant", "tenant", frozenset({"id", "access"})),
        ClaimRule("dailyLimit", "daily_limit", frozenset({"access"})),
        ClaimRule("department", "department", frozenset({"id", "access"})),
    )
    assert settings.groups_attribute == "memberOf"
    assert settings.groups_mode == "override"
    assert settings.fail_open is True
    assert settings.budget_bytes == 1024
    # Only what the mapping needs (and the groups) is read from the table.
    assert settings.projection == ("tenant", "dailyLimit", "department", "memberOf")


def test_empty_groups_attribute_turns_groups_off() -> None:
    settings = load_settings({"GROUPS_ATTRIBUTE": ""})
    assert settings.groups_attribute is None
    assert settings.excluded_attributes == ("sub",)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"issuer": {"claim": "iss"}}, "'iss'"),
        ({"x": {"claim": "cognito:groups"}}, "reserved_prefix"),
        ({"x": {"claim": "custom"}}, "reserved_name"),
        ({"x": {"claim": "dev"}}, "reserved_name"),
        ({"x": {"claim": "Sub"}}, "protected_claim"),
        ({"scope": {}}, "protected_claim"),
        ({"groups": {"claim": "teams"}}, "groups attribute"),
        ({"a": {"claim": "t"}, "b": {"claim": "t", "tokens": ["access"]}}, "both 'a' and 'b'"),
        ({"a": {"tokens": []}}, "tokens"),
        ({"a": {"tokens": ["refresh"]}}, "tokens"),
        ({"a": {"tokens": "id"}}, "tokens"),
        ({"a": {"tokens": ["id", "id"]}}, "tokens"),
        ({"a": {"claim": ""}}, "claim must be"),
        ({"a": {"claims": "x"}}, "unknown keys"),
        ({"a": "tenant"}, "must be an object"),
        ({"": {}}, "empty attribute"),
        (["tenant"], "JSON object"),
    ],
)
def test_a_mapping_that_would_emit_a_forbidden_claim_is_refused(
    mapping: object, message: str
) -> None:
    with pytest.raises(ConfigError, match="CLAIM_MAPPING") as info:
        load_settings({"CLAIM_MAPPING": json.dumps(mapping)})
    assert message in str(info.value)


def test_mapping_that_is_not_json_is_refused() -> None:
    with pytest.raises(ConfigError, match="CLAIM_MAPPING is not valid JSON"):
        load_settings({"CLAIM_MAPPING": "{tenant: 1"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GROUPS_MODE": "replace"}, "GROUPS_MODE"),
        ({"ATTRIBUTES_FAIL_OPEN": "maybe"}, "ATTRIBUTES_FAIL_OPEN"),
        ({"TOKEN_CLAIMS_BUDGET_BYTES": "4k"}, "TOKEN_CLAIMS_BUDGET_BYTES"),
        ({"TOKEN_CLAIMS_BUDGET_BYTES": "0"}, "TOKEN_CLAIMS_BUDGET_BYTES"),
        ({"TOKEN_CLAIMS_BUDGET_BYTES": "-1"}, "TOKEN_CLAIMS_BUDGET_BYTES"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("false", False), ("0", False)]
)
def test_fail_open_spellings(raw: str, expected: bool) -> None:
    assert load_settings({"ATTRIBUTES_FAIL_OPEN": raw}).fail_open is expected


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="never emits"):
        Settings(mapping=(ClaimRule("a", "aud", frozenset({"id"})),))
