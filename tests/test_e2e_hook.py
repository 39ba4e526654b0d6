"""End to end, issue by issue joined up: a user's item in DynamoDB (moto) -> the pre-token hook
(V1 and V2) -> a token signed with the claims Cognito would issue -> the authorizer's Allow and
Deny from the sample policies. The hook's claims must be exactly what the mapping reads."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from pre_token_hook.attributes import DynamoDBAttributeSource
from pre_token_hook.config import load_settings
from pre_token_hook.handler import Runtime, handle
from pre_token_hook.trigger import apply_override
from tests.conftest import FakeClock
from tests.helpers import outcome, rest

TABLE = "user-attributes"
TRANSFER = ("POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers")
PAT = {
    "sub": "pat",
    "tenant": "acme",
    "department": "finance",
    "permissions": ["payments:initiate"],
    "dailyLimit": 5000,
    "groups": ["payment-initiators"],
}


def trigger_event(version: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": version,
        "triggerSource": "TokenGeneration_Authentication",
        "region": "us-east-1",
        "userPoolId": "us-east-1_TESTPOOL",
        "userName": "pat",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "testclient"},
        "request": {
            "userAttributes": {"sub": "pat", "email": "pat@example.com"},
            "groupConfiguration": {
                "groupsToOverride": [],
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
        },
        "response": {"claimsOverrideDetails": None}
        if version == "1"
        else {"claimsAndScopeOverrideDetails": None},
    }
    if version != "1":
        event["request"]["scopes"] = ["openid"]
    return event


@pytest.fixture
def table() -> Any:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "sub", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "sub", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE).put_item(Item=PAT)
        yield client


@pytest.mark.parametrize("version", ["1", "2"])
def test_dynamodb_item_through_the_hook_to_allow_and_deny(
    table: Any, authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, version: str
) -> None:
    runtime = Runtime(
        load_settings({"USER_ATTRIBUTES_TABLE": TABLE}), DynamoDBAttributeSource(TABLE, table)
    )
    response = handle(trigger_event(version), runtime)["response"]
    # Cognito issues V1's claims in the ID token only; V2 writes both tokens.
    token_use = "id" if version == "1" else "access"
    cognito_claims = issuer.claims("pat", token_use=token_use, scope="openid", now=clock.now)
    claims = apply_override(cognito_claims, response, token_use)
    if version == "1":
        assert claims["dailyLimit"] == "5000"  # V1 stringifies: the mapping must coerce it back
    else:
        assert claims["dailyLimit"] == 5000
    assert claims["cognito:groups"] == ["payment-initiators"]
    authz_for_kind = (
        authz
        if token_use == "access"
        else Authorizer.from_env({**_env(authz), "AUTH_TOKEN_USE": "id"}, clock=clock)
    )
    token = issuer.sign(claims)
    allowed = rest(token, *TRANSFER, query={"amount": "1200"})
    over_limit = rest(token, *TRANSFER, query={"amount": "6000"})
    assert outcome(authz_for_kind, allowed) == "Allow"
    assert outcome(authz_for_kind, over_limit) == "Deny"


def _env(authz: Authorizer) -> dict[str, str]:
    settings = authz.settings
    assert settings.schema_path is not None and settings.entities_path is not None
    return {
        "AUTH_ISSUER": settings.issuer, "AUTH_JWKS_URL": settings.jwks_url,
        "AUTH_CLIENT_IDS": ",".join(settings.client_ids), "CEDAR_POLICY_DIR": str(settings.policy_dir),
        "CEDAR_SCHEMA": str(settings.schema_path), "CEDAR_ENTITIES": str(settings.entities_path),
        "ENTITY_ID_PREFIX": settings.entity_id_prefix,
    }  # fmt: skip
