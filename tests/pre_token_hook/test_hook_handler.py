"""The Lambda handler with in-memory sources: every event version and trigger source, the
samples as they are, groups, guards, budget, failure policy and the log line."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from authorizer.limits import INCOMPLETE_CLAIM
from pre_token_hook import handler
from pre_token_hook.attributes import InMemoryAttributeSource
from pre_token_hook.config import Settings, load_settings
from pre_token_hook.errors import AttributesUnavailable, ConfigError, InvalidTriggerEvent
from pre_token_hook.trigger import apply_override
from tests.pre_token_hook.hook_support import (
    SAMPLE_CLAIMS,
    SUB,
    USER_SOURCES,
    RecordingSource,
    hook_lines,
    load_sample,
    machine_event,
    sample_item,
    user_event,
)

# docs/architecture.md, The entity mapping: the principal's attributes are the token's
# non-registered claims.
REGISTERED = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "token_use",
              "origin_jti", "event_id", "client_id", "username", "scope", "version"}  # fmt: skip


def run(
    event: dict[str, Any], source: Any = None, settings: Settings | None = None
) -> dict[str, Any]:
    handler.configure(settings or Settings(), source)
    out = handler.lambda_handler(copy.deepcopy(event), None)
    json.dumps(out, allow_nan=False)  # what Lambda sends back must be plain JSON
    return out


def v2_details(out: dict[str, Any]) -> dict[str, Any]:
    assert set(out["response"]) == {"claimsAndScopeOverrideDetails"}
    details: dict[str, Any] = out["response"]["claimsAndScopeOverrideDetails"]
    return details


def sample_source() -> RecordingSource:
    return RecordingSource({SUB: sample_item()})


# --- the samples, as they are -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "cognito-event-userpools-pretokengen-v2.json",
        "cognito-event-userpools-pretokengen-v2_0.json",
    ],
)
def test_v2_samples_keep_their_response_and_gain_the_users_claims(name: str) -> None:
    event = load_sample(name)
    source = sample_source()
    out = run(event, source)
    assert source.calls == [SUB]
    details = v2_details(out)
    prefilled = event["response"]["claimsAndScopeOverrideDetails"]
    for key in ("idTokenGeneration", "accessTokenGeneration"):
        expected = {**prefilled[key]["claimsToAddOrOverride"], **SAMPLE_CLAIMS}
        assert details[key]["claimsToAddOrOverride"] == expected
        assert details[key]["claimsToSuppress"] == ["email", "birthdate"]
    access = details["accessTokenGeneration"]
    assert access["scopesToAdd"] == ["scope1", "scope2", "scopeLomond"]
    assert access["scopesToSuppress"] == ["phone_number"]
    groups = details["groupOverrideDetails"]
    assert groups["groupsToOverride"] == ["group-A", "group-B", "group-C", "hr-engineering"]
    assert groups["iamRolesToOverride"] == prefilled["groupOverrideDetails"]["iamRolesToOverride"]
    assert groups["preferredRole"] == "arn:aws:iam::123456789012:role/sns_caller"
    assert {k: v for k, v in out.items() if k != "response"} == {
        k: v for k, v in event.items() if k != "response"
    }


def test_v1_sample_without_sub_reads_nothing_and_keeps_its_response(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    event = load_sample("cognito-event-userpools-pretokengen.json")
    source = sample_source()
    out = run(event, source)
    assert source.calls == []
    assert out["response"] == event["response"]
    assert hook_lines(caplog_hook)[-1]["status"] == "no_sub"


@pytest.mark.parametrize(
    "name",
    [
        "cognito-event-userpools-pretokengen.json",
        "cognito-event-userpools-pretokengen-v2.json",
        "cognito-event-userpools-pretokengen-v2_0.json",
    ],
)
def test_samples_pass_through_a_hook_without_a_table(name: str) -> None:
    event = load_sample(name)
    out = handler.lambda_handler(copy.deepcopy(event), None)  # configured from the (empty) env
    assert out["response"] == event["response"]


# --- versions and trigger sources -------------------------------------------------------------


@pytest.mark.parametrize("version", ["2", "3"])
@pytest.mark.parametrize("trigger_source", USER_SOURCES)
def test_v2_v3_user_flows_get_typed_claims_in_both_tokens(
    version: str, trigger_source: str
) -> None:
    out = run(user_event(version, trigger_source, groups=["employees"]), sample_source())
    details = v2_details(out)
    assert details["idTokenGeneration"] == {
        "claimsToAddOrOverride": SAMPLE_CLAIMS,
        "claimsToSuppress": [],
    }
    assert details["accessTokenGeneration"] == {
        "claimsToAddOrOverride": SAMPLE_CLAIMS,
        "claimsToSuppress": [],
        "scopesToAdd": [],
        "scopesToSuppress": [],
    }
    assert details["groupOverrideDetails"] == {
        "groupsToOverride": ["employees", "hr-engineering"],
        "iamRolesToOverride": [],
    }


@pytest.mark.parametrize("trigger_source", [*USER_SOURCES, "PreTokenGen"])
def test_v1_writes_strings_to_the_id_token_only(trigger_source: str) -> None:
    out = run(user_event("1", trigger_source), sample_source())
    assert set(out["response"]) == {"claimsOverrideDetails"}
    details = out["response"]["claimsOverrideDetails"]
    assert details["claimsToAddOrOverride"] == {
        "tenant": "acme",
        "department": "engineering",
        "permissions": '["employee:read"]',
        "roles": '["viewer"]',
        "dailyLimit": "5000",
    }
    assert all(isinstance(v, str) for v in details["claimsToAddOrOverride"].values())
    assert details["claimsToSuppress"] == []
    assert details["groupOverrideDetails"]["groupsToOverride"] == ["hr-engineering"]


def test_v3_client_credentials_reads_nothing_and_returns_an_empty_override(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    source = RecordingSource(error=AssertionError("a machine client has no user to look up"))
    out = run(machine_event(), source)
    assert source.calls == []
    assert v2_details(out) == {
        "accessTokenGeneration": {
            "claimsToAddOrOverride": {},
            "claimsToSuppress": [],
            "scopesToAdd": [],
            "scopesToSuppress": [],
        }
    }
    line = hook_lines(caplog_hook)[-1]
    assert line["status"] == "machine_client"
    assert line["triggerSource"] == "TokenGeneration_ClientCredentials"


def test_v3_client_credentials_never_overrides_groups() -> None:
    event = machine_event()
    event["response"]["claimsAndScopeOverrideDetails"] = {
        "groupOverrideDetails": {"groupsToOverride": ["admins"]}
    }
    assert "groupOverrideDetails" not in v2_details(run(event, sample_source()))


def test_v3_client_credentials_without_user_attributes_at_all() -> None:
    event = machine_event()
    del event["request"]["userAttributes"]
    out = run(event, sample_source())
    assert v2_details(out)["accessTokenGeneration"]["claimsToAddOrOverride"] == {}


@pytest.mark.parametrize("event", [{"version": "4", "request": {}}, {"request": {}}, ["x"], None])
def test_events_of_unknown_versions_are_refused(event: Any) -> None:
    handler.configure(Settings(), sample_source())
    with pytest.raises(InvalidTriggerEvent):
        handler.lambda_handler(event, None)


# --- what the authorizer sees -----------------------------------------------------------------


def cognito_claims(token: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": SUB,
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
        "token_use": token,
        "cognito:groups": ["employees"],
        "exp": 1_800_000_000,
        "iat": 1_799_996_400,
        "jti": "j",
        "origin_jti": "o",
        "auth_time": 1_799_996_400,
    }
    if token == "id":
        base |= {"aud": "client1", "cognito:username": "ana", "email": "ana@example.com"}
    else:
        base |= {
            "client_id": "client1",
            "username": "ana",
            "scope": "aws.cognito.signin.user.admin",
        }
    return base


@pytest.mark.parametrize("token", ["id", "access"])
def test_issued_tokens_carry_exactly_the_items_attributes_as_principal_attributes(
    token: str,
) -> None:
    out = run(user_event("2", groups=["employees"]), sample_source())
    issued = apply_override(cognito_claims(token), out["response"], token)
    principal = {
        k: v for k, v in issued.items() if k not in REGISTERED and not k.startswith("cognito:")
    }
    extra = {"email": "ana@example.com"} if token == "id" else {}
    assert principal == SAMPLE_CLAIMS | extra
    assert issued["cognito:groups"] == ["employees", "hr-engineering"]
    for name in ("sub", "iss", "exp", "iat", "jti", "token_use", "auth_time"):
        assert issued[name] == cognito_claims(token)[name]


def test_v1_leaves_the_access_token_alone_but_for_groups() -> None:
    out = run(user_event("1", groups=["employees"]), sample_source())
    access = apply_override(cognito_claims("access"), out["response"], "access")
    assert access == cognito_claims("access") | {"cognito:groups": ["employees", "hr-engineering"]}


# --- groups -----------------------------------------------------------------------------------


def test_override_mode_replaces_cognitos_groups_and_keeps_roles() -> None:
    event = user_event("2", groups=["employees", "admins"])
    event["request"]["groupConfiguration"]["iamRolesToOverride"] = ["arn:aws:iam::1:role/r"]
    event["request"]["groupConfiguration"]["preferredRole"] = "arn:aws:iam::1:role/r"
    out = run(event, sample_source(), Settings(groups_mode="override"))
    assert v2_details(out)["groupOverrideDetails"] == {
        "groupsToOverride": ["hr-engineering"],
        "iamRolesToOverride": ["arn:aws:iam::1:role/r"],
        "preferredRole": "arn:aws:iam::1:role/r",
    }


def test_override_with_an_empty_list_removes_every_group() -> None:
    item = sample_item() | {"groups": []}
    out = run(
        user_event("2", groups=["admins"]),
        RecordingSource({SUB: item}),
        Settings(groups_mode="override"),
    )
    assert v2_details(out)["groupOverrideDetails"]["groupsToOverride"] == []


def test_an_item_without_groups_leaves_groups_alone_in_both_modes() -> None:
    item = {k: v for k, v in sample_item().items() if k != "groups"}
    for mode in ("extend", "override"):
        out = run(
            user_event("2", groups=["admins"]),
            RecordingSource({SUB: item}),
            Settings(groups_mode=mode),
        )
        assert "groupOverrideDetails" not in v2_details(out)


def test_groups_never_become_a_claim() -> None:
    out = run(user_event("2"), sample_source())
    for key in ("idTokenGeneration", "accessTokenGeneration"):
        assert "groups" not in v2_details(out)[key]["claimsToAddOrOverride"]


def test_custom_groups_attribute() -> None:
    item = {"sub": SUB, "tenant": "acme", "memberOf": ["finance"], "groups": "not-groups"}
    out = run(user_event("2"), RecordingSource({SUB: item}), Settings(groups_attribute="memberOf"))
    details = v2_details(out)
    assert details["groupOverrideDetails"]["groupsToOverride"] == ["finance"]
    # Under another name, "groups" is just an attribute: it becomes a claim.
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {
        "groups": "not-groups",
        "tenant": "acme",
    }


# --- mapping, guards, budget ------------------------------------------------------------------


def test_declared_mapping_decides_names_and_tokens() -> None:
    settings = load_settings(
        {
            "CLAIM_MAPPING": json.dumps(
                {
                    "tenant": {"claim": "tenant_id", "tokens": ["access"]},
                    "dailyLimit": {"tokens": ["id"]},
                }
            )
        }
    )
    details = v2_details(run(user_event("2"), sample_source(), settings))
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {"dailyLimit": 5000}
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"] == {"tenant_id": "acme"}


def test_a_mapped_claim_the_item_lacks_is_suppressed_not_left_to_the_user(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    """`CLAIM_MAPPING={"branch": {"claim": "custom:branch"}}`: a user without a `branch` in the
    table (or without an item) kept the `custom:branch` they wrote themselves in the ID token,
    and policies read it as the table's."""
    settings = load_settings({"CLAIM_MAPPING": json.dumps({"branch": {"claim": "custom:branch"}})})
    for item in ({"sub": SUB, "branch": "north"}, {"sub": SUB}, None):
        source = RecordingSource({SUB: item} if item is not None else {})
        details = v2_details(run(user_event("2"), source, settings))
        for key in ("idTokenGeneration", "accessTokenGeneration"):
            token = details[key]
            if item is not None and "branch" in item:
                assert token["claimsToAddOrOverride"] == {"custom:branch": "north"}
                assert "custom:branch" not in token["claimsToSuppress"]
            else:
                assert "custom:branch" not in token["claimsToAddOrOverride"]
                assert "custom:branch" in token["claimsToSuppress"], (item, key)


def test_item_attributes_named_like_protected_claims_are_skipped_and_logged(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    item = {
        "sub": SUB,
        "tenant": "acme",
        "iss": "https://evil",
        "cognito:groups": ["root"],
        "dev": "1",
    }
    out = run(user_event("2"), RecordingSource({SUB: item}))
    for key in ("idTokenGeneration", "accessTokenGeneration"):
        assert v2_details(out)[key]["claimsToAddOrOverride"] == {"tenant": "acme"}
    dropped = {
        (d["claim"], d["token"], d["reason"]) for d in hook_lines(caplog_hook)[-1]["dropped"]
    }
    assert ("iss", "id", "protected_claim") in dropped
    assert ("cognito:groups", "access", "reserved_prefix") in dropped
    assert ("dev", "id", "reserved_name") in dropped


def test_a_prefilled_response_is_guarded_too() -> None:
    event = user_event("2")
    event["response"]["claimsAndScopeOverrideDetails"] = {
        "idTokenGeneration": {
            "claimsToAddOrOverride": {
                "sub": "someone-else",
                "cognito:groups": "x",
                "nickname": "a",
            },
            "claimsToSuppress": ["sub", "email", "tenant", "cognito:username"],
        }
    }
    details = v2_details(run(event, sample_source()))
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == SAMPLE_CLAIMS | {
        "nickname": "a"
    }
    # Protected names never suppressed; a claim the hook adds is not suppressed either.
    assert details["idTokenGeneration"]["claimsToSuppress"] == ["email"]


def test_token_budget_drops_the_largest_claims_and_logs_them(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    item = sample_item() | {"bio": "x" * 5000, "notes": ["y" * 100] * 10}
    out = run(user_event("2"), RecordingSource({SUB: item}))
    for key in ("idTokenGeneration", "accessTokenGeneration"):
        claims = v2_details(out)[key]["claimsToAddOrOverride"]
        # Marked incomplete: the authorizer refuses the token (a forbid on `bio` would not hold).
        assert claims == SAMPLE_CLAIMS | {"notes": ["y" * 100] * 10, INCOMPLETE_CLAIM: True}
        assert len(json.dumps(claims, separators=(",", ":")).encode()) <= 4096
    line = hook_lines(caplog_hook)[-1]
    assert [(d["claim"], d["reason"]) for d in line["dropped"]] == [
        ("bio", "token_budget"), ("bio", "token_budget"),
    ]  # fmt: skip
    assert line["dropped"][0]["size_bytes"] == len('"bio":"' + "x" * 5000 + '"')
    assert caplog_hook.records[-1].levelname == "WARNING"


def test_budget_applies_to_v1_strings() -> None:
    item = sample_item() | {"permissions": ["p" * 50] * 10}
    out = run(user_event("1"), RecordingSource({SUB: item}), Settings(budget_bytes=200))
    claims = out["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    assert "permissions" not in claims
    assert claims["tenant"] == "acme"
    assert claims[INCOMPLETE_CLAIM] == "true"  # V1 claims are strings
    assert len(json.dumps(claims, separators=(",", ":")).encode()) <= 200


# --- failures ---------------------------------------------------------------------------------


def test_a_missing_item_is_a_user_without_extra_attributes(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    source = RecordingSource({})
    details = v2_details(run(user_event("2", groups=["employees"]), source))
    assert source.calls == [SUB]
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {}
    assert "groupOverrideDetails" not in details
    assert hook_lines(caplog_hook)[-1]["status"] == "no_item"


REASONS = [
    "throttled",
    "unreachable",
    "timeout",
    "table_not_found",
    "access_denied",
    "malformed_item",
]


@pytest.mark.parametrize("reason", REASONS)
def test_fail_closed_by_default_refuses_the_sign_in(
    reason: str, caplog_hook: pytest.LogCaptureFixture
) -> None:
    source = RecordingSource(error=AttributesUnavailable(reason, "detail"))
    with pytest.raises(AttributesUnavailable) as info:
        run(user_event("2"), source)
    assert info.value.reason == reason
    assert str(info.value).startswith(f"{reason}: the user's attributes could not be read")
    assert "ATTRIBUTES_FAIL_OPEN=false" in str(info.value)
    line = hook_lines(caplog_hook)[-1]
    assert (line["status"], line["error"], line["sub"]) == ("refused", reason, SUB)
    assert caplog_hook.records[-1].levelname == "ERROR"


@pytest.mark.parametrize("reason", [r for r in REASONS if r != "malformed_item"])
def test_fail_open_issues_the_token_unenriched(
    reason: str, caplog_hook: pytest.LogCaptureFixture
) -> None:
    source = RecordingSource(error=AttributesUnavailable(reason))
    event = user_event("2", groups=["employees"])
    details = v2_details(run(event, source, Settings(fail_open=True)))
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {}
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"] == {}
    assert "groupOverrideDetails" not in details
    line = hook_lines(caplog_hook)[-1]
    assert (line["status"], line["error"]) == ("fail_open", reason)
    assert caplog_hook.records[-1].levelname == "WARNING"


@pytest.mark.parametrize("fail_open", [False, True])
def test_a_malformed_item_refuses_the_sign_in_even_failing_open(fail_open: bool) -> None:
    """Fail open is for an outage. The item was read: issued without it, the tokens lost its
    `banned` group and its `blocked` flag, and the forbids on them did not hold."""
    item = sample_item() | {"groups": "hr-engineering"}
    source = RecordingSource({SUB: item})
    settings = Settings(fail_open=fail_open, groups_mode="override")
    with pytest.raises(AttributesUnavailable, match="malformed_item"):
        run(user_event("2"), source, settings)


def test_unsupported_attribute_values_skip_only_that_claim() -> None:
    item = sample_item() | {"avatar": b"\x89PNG", "ratio": Decimal("0.25"), "tags": {"b", "a"}}
    details = v2_details(run(user_event("2"), RecordingSource({SUB: item})))
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"] == SAMPLE_CLAIMS | {
        "ratio": "0.25",
        "tags": ["a", "b"],
    }


def test_bad_configuration_fails_at_cold_start_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, caplog_hook: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CLAIM_MAPPING", json.dumps({"tenant": {"claim": "iss"}}))
    for _ in range(2):  # not cached: every invocation says so until fixed
        with pytest.raises(ConfigError, match="maps 'tenant' to claim 'iss'"):
            handler.lambda_handler(user_event("2"), None)
    assert hook_lines(caplog_hook)[-1]["event"] == "pre_token_config_error"


def test_runtime_is_built_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    handler.lambda_handler(user_event("2"), None)
    monkeypatch.setenv("GROUPS_MODE", "not-a-mode")  # read only at cold start
    handler.lambda_handler(user_event("2"), None)
    handler.reset()
    with pytest.raises(ConfigError, match="GROUPS_MODE"):
        handler.lambda_handler(user_event("2"), None)


# --- the log line -----------------------------------------------------------------------------


def test_one_json_line_per_invocation_with_names_never_values(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    run(user_event("2", trigger_source="TokenGeneration_RefreshTokens"), sample_source())
    lines = hook_lines(caplog_hook)
    assert len(lines) == 1
    line = lines[0]
    assert line["triggerSource"] == "TokenGeneration_RefreshTokens"
    assert line["version"] == "2"
    assert line["sub"] == SUB
    assert line["status"] == "enriched"
    assert line["claims"] == {"id": sorted(SAMPLE_CLAIMS), "access": sorted(SAMPLE_CLAIMS)}
    assert line["dropped"] == []
    assert line["groups"] == {"mode": "extend", "count": 1}
    assert isinstance(line["latency_ms"], float)
    text = caplog_hook.records[0].getMessage()
    for value in ("acme", "engineering", "employee:read", "viewer", "5000", "hr-engineering"):
        assert value not in text


@pytest.mark.parametrize("version", ["1", "2"])
def test_the_input_event_is_never_mutated(version: str) -> None:
    event = load_sample(
        "cognito-event-userpools-pretokengen.json"
        if version == "1"
        else "cognito-event-userpools-pretokengen-v2.json"
    )
    event["request"]["userAttributes"]["sub"] = SUB
    before = copy.deepcopy(event)
    handler.configure(Settings(), sample_source())
    out = handler.lambda_handler(event, None)
    assert event == before
    assert out["response"] != before["response"]


def test_in_memory_source_from_items() -> None:
    source = InMemoryAttributeSource.from_items([sample_item()])
    assert source.get(SUB) == sample_item()
    assert source.get("nobody") is None
    source.put({"sub": "other", "tenant": "t"})
    assert source.get("other") == {"sub": "other", "tenant": "t"}


def test_a_v1_invocation_says_what_the_authorizer_needs_for_its_tokens(
    caplog_hook: pytest.LogCaptureFixture,
) -> None:
    """V1 enriches the ID token only, with text: its access token carries no attribute, and
    without a schema `"true"` is not `true`. Said on every V1 log line, not on V2's."""
    run(user_event("1"), RecordingSource({SUB: sample_item()}))
    assert "AUTH_TOKEN_USE=id" in hook_lines(caplog_hook)[-1]["v1"]
    run(user_event("2"), RecordingSource({SUB: sample_item()}))
    assert "v1" not in hook_lines(caplog_hook)[-1]
