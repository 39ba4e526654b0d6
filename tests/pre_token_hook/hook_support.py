"""Helpers for the pre-token hook tests: sample events, the sample app's item, fakes."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

# AWS's sample events, copied byte for byte (a clean clone has no /work/shared).
SAMPLES = Path(__file__).resolve().parent / "samples"
SUB = "a36036a8-9061-424d-a737-56d57dae7bc6"
TABLE = "user-attributes"
# The claims the sample item (sample_item) gives the tokens.
SAMPLE_CLAIMS = {
    "tenant": "acme",
    "department": "engineering",
    "permissions": ["employee:read"],
    "roles": ["viewer"],
    "dailyLimit": 5000,
}
USER_SOURCES = (
    "TokenGeneration_HostedAuth",
    "TokenGeneration_Authentication",
    "TokenGeneration_NewPasswordChallenge",
    "TokenGeneration_AuthenticateDevice",
    "TokenGeneration_RefreshTokens",
)
HOOK_ENV = (
    "USER_ATTRIBUTES_TABLE",
    "CLAIM_MAPPING",
    "GROUPS_ATTRIBUTE",
    "GROUPS_MODE",
    "ATTRIBUTES_FAIL_OPEN",
    "TOKEN_CLAIMS_BUDGET_BYTES",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
)


def sample_item(sub: str = SUB) -> dict[str, Any]:
    """The sample application's item, as boto3 returns it (numbers are Decimal)."""
    return {
        "sub": sub,
        "tenant": "acme",
        "department": "engineering",
        "permissions": ["employee:read"],
        "roles": ["viewer"],
        "dailyLimit": Decimal(5000),
        "groups": ["hr-engineering"],
    }


def load_sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def user_event(
    version: str = "2",
    trigger_source: str = "TokenGeneration_Authentication",
    sub: str | None = SUB,
    groups: list[str] | None = None,
) -> dict[str, Any]:
    """An event as Cognito sends it: the response empty."""
    attributes = {"email": "ana@example.com", "email_verified": "true"}
    if sub is not None:
        attributes["sub"] = sub
    event: dict[str, Any] = {
        "version": version,
        "triggerSource": trigger_source,
        "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE",
        "userName": "ana",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "client1"},
        "request": {
            "userAttributes": attributes,
            "groupConfiguration": {
                "groupsToOverride": list(groups or []),
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
        },
        "response": {},
    }
    if version == "1":
        event["response"] = {"claimsOverrideDetails": None}
    else:
        event["request"]["scopes"] = ["aws.cognito.signin.user.admin"]
        event["response"] = {"claimsAndScopeOverrideDetails": None}
    return event


def machine_event() -> dict[str, Any]:
    """A V3 client-credentials event: an app client, no user."""
    return {
        "version": "3",
        "triggerSource": "TokenGeneration_ClientCredentials",
        "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE",
        "userName": None,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "m2m-client"},
        "request": {"userAttributes": {}, "scopes": ["api/read"], "clientMetadata": {}},
        "response": {"claimsAndScopeOverrideDetails": None},
    }


class RecordingSource:
    """An AttributeSource that records every lookup and answers from a dict or an error."""

    def __init__(
        self, items: Mapping[str, Mapping[str, Any]] | None = None, error: Exception | None = None
    ) -> None:
        self.items = dict(items or {})
        self.error = error
        self.calls: list[str] = []

    def get(self, sub: str) -> Mapping[str, Any] | None:
        self.calls.append(sub)
        if self.error is not None:
            raise self.error
        item = self.items.get(sub)
        return copy.deepcopy(item) if item is not None else None


def hook_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The JSON lines the hook logged."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "pre_token_hook"]


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "sub", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sub", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def put_sample(client: Any, name: str = TABLE, sub: str = SUB) -> None:
    """The sample item, written through the low-level API (wire format)."""
    client.put_item(
        TableName=name,
        Item={
            "sub": {"S": sub},
            "tenant": {"S": "acme"},
            "department": {"S": "engineering"},
            "permissions": {"L": [{"S": "employee:read"}]},
            "roles": {"L": [{"S": "viewer"}]},
            "dailyLimit": {"N": "5000"},
            "groups": {"L": [{"S": "hr-engineering"}]},
        },
    )
