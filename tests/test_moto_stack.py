"""The moto-backed stack: template.yaml's user pool, app client, groups and table on a moto server
on loopback, the sample users in it, and the authorizer verifying moto's tokens through the JWKS
the moto server serves over HTTP (no key handed over in process).

moto never runs the pre-token trigger: the enriched tokens come from `MotoStack.enriched_tokens`
(DynamoDB on the moto server -> pre_token_hook on a V2 event -> moto's claims with the hook's
response applied -> signed with moto's own key, so they verify through moto's JWKS too)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from moto.server import ThreadedMotoServer

from authorizer.pdp import Authorizer
from authorizer.tooling.local.moto_stack import (
    ADMIN_SCOPE,
    MotoStack,
    build_stack,
    describe,
    moto_public_jwks,
    moto_signing_jwk,
    read_template,
    running_stack,
    sign,
)
from authorizer.tooling.local.users import SAMPLE_USERS, split_profile
from pre_token_hook.attributes import from_dynamodb_item
from tests.helpers import outcome, rest

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_JWKS = ROOT / "tests" / "samples" / "events" / "moto-cognito-jwks-public.json"

READ = ("GET", "/employees/emp-001", "/employees/{employeeId}")
STATUS = ("PUT", "/employees/emp-001/status", "/employees/{employeeId}/status")
GLOBEX_STATUS = ("PUT", "/employees/emp-101/status", "/employees/{employeeId}/status")
TRANSFER = ("POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers")
GLOBEX_TRANSFER = ("POST", "/accounts/acc-101/transfers", "/accounts/{accountId}/transfers")


@pytest.fixture(scope="module")
def stack() -> Iterator[MotoStack]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1"
        yield build_stack(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def authz(stack: MotoStack) -> Authorizer:
    return stack.authorizer()


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback
        return json.load(response)


# --- the stack is the template's -----------------------------------------------------------


def test_pool_client_and_groups_come_from_the_template(stack: MotoStack) -> None:
    definitions = read_template()
    pool = stack.cognito.describe_user_pool(UserPoolId=stack.pool_id)["UserPool"]
    assert pool["Name"] == "cedar-authz-local-users"  # !Sub ${AWS::StackName}-users
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool.get("UserPoolTier") == "ESSENTIALS"
    # The trigger is the one thing of the pool moto is not given: it would never invoke it.
    assert not pool.get("LambdaConfig")
    assert any(s.startswith("UserPool.LambdaConfig") for s in stack.skipped)

    client = stack.cognito.describe_user_pool_client(
        UserPoolId=stack.pool_id, ClientId=stack.client_id
    )["UserPoolClient"]
    assert client["ClientName"] == "cedar-authz-local-app"
    assert client["ExplicitAuthFlows"] == [
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]
    assert "ClientSecret" not in client

    listed = stack.cognito.list_groups(UserPoolId=stack.pool_id)["Groups"]
    groups = {g["GroupName"]: g.get("Description") for g in listed}
    assert groups == {g["GroupName"]: g["Description"] for g in definitions.groups}
    assert len(groups) == 8
    every_sample_group = {g for user in SAMPLE_USERS for g in split_profile(user)[0]}
    assert every_sample_group <= set(groups)


def test_tables_come_from_the_template(stack: MotoStack) -> None:
    assert set(stack.tables) == {"UserAttributesTable", "RevocationTable"}
    table = stack.dynamodb.describe_table(TableName=stack.table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "sub", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "sub", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    backups = stack.dynamodb.describe_continuous_backups(TableName=stack.table_name)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    # The authorizer's revocation table: pk, and DynamoDB's TTL on expires_at.
    revocations = stack.tables["RevocationTable"]
    table = stack.dynamodb.describe_table(TableName=revocations)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    ttl = stack.dynamodb.describe_time_to_live(TableName=revocations)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_every_sample_user_is_in_the_pool_its_groups_and_the_table(stack: MotoStack) -> None:
    assert set(stack.subs) == set(SAMPLE_USERS)
    for name, sub in stack.subs.items():
        groups, claims = split_profile(name)
        user = stack.cognito.admin_get_user(UserPoolId=stack.pool_id, Username=name)
        assert user["UserStatus"] == "CONFIRMED"
        assert {"Name": "sub", "Value": sub} in user["UserAttributes"]
        listed = stack.cognito.admin_list_groups_for_user(UserPoolId=stack.pool_id, Username=name)
        assert sorted(g["GroupName"] for g in listed["Groups"]) == sorted(groups)
        raw = stack.dynamodb.get_item(TableName=stack.table_name, Key={"sub": {"S": sub}})["Item"]
        assert from_dynamodb_item(raw) == {"sub": sub, **claims}  # no groups: Cognito has them


def test_describe_names_the_ids_and_settings(stack: MotoStack) -> None:
    text = describe(stack)
    assert stack.pool_id in text and stack.client_id in text and stack.jwks_url in text


# --- moto's own tokens, verified through the JWKS on the moto server -------------------------


def test_the_moto_server_serves_motos_published_key_set(stack: MotoStack) -> None:
    served = fetch_json(stack.jwks_url)
    assert served == moto_public_jwks()
    assert [k["kid"] for k in served["keys"]] == ["dummy"]
    # The key the enriched tokens are signed with is the private half of that key.
    private = moto_signing_jwk()
    assert {k: private[k] for k in ("kid", "kty", "n", "e")} == {
        k: served["keys"][0][k] for k in ("kid", "kty", "n", "e")
    }
    if not PUBLISHED_JWKS.exists():
        pytest.skip(f"{PUBLISHED_JWKS} is not here to compare with")
    assert served == json.loads(PUBLISHED_JWKS.read_text())


def test_raw_moto_access_token_verifies_through_the_http_jwks(
    stack: MotoStack, authz: Authorizer
) -> None:
    tokens = stack.sign_in("alice")
    assert jwt.get_unverified_header(tokens.access_token)["kid"] == "dummy"
    caller = authz.verify(tokens.access_token)
    claims = caller.token.claims
    assert claims["iss"] == stack.issuer  # Cognito's form, not the moto server's URL
    assert claims["client_id"] == stack.client_id
    assert claims["sub"] == stack.subs["alice"]
    assert claims["cognito:groups"] == ["engineering"]
    assert claims["scope"] == ADMIN_SCOPE
    assert "tenant" not in claims  # no trigger ran
    assert caller.principal == {"type": "Corp::User", "id": stack.subs["alice"]}
    # Verified, so a decision (Deny), not a 401: alice's read needs the employee:read scope.
    assert outcome(authz, rest(tokens.access_token, *READ)) == "Deny"


def test_raw_moto_id_token_verifies_when_id_tokens_are_accepted(stack: MotoStack) -> None:
    authz = stack.authorizer(AUTH_TOKEN_USE="id")
    claims = authz.verify(stack.sign_in("adam").id_token).token.claims
    assert claims["aud"] == stack.client_id
    assert claims["cognito:username"] == "adam"
    assert claims["cognito:groups"] == ["admins"]


def test_tokens_not_from_the_pools_key_or_client_are_refused(
    stack: MotoStack, authz: Authorizer
) -> None:
    claims = jwt.decode(stack.sign_in("adam").access_token, options={"verify_signature": False})
    other_client = sign({**claims, "client_id": "someone-else"})
    assert outcome(authz, rest(other_client, *STATUS)) == "401"
    tampered = stack.sign_in("adam").access_token[:-4] + "AAAA"
    assert outcome(authz, rest(tampered, *STATUS)) == "401"


def test_groups_from_moto_reach_the_policies_and_the_tenant_claim_is_needed(
    stack: MotoStack, authz: Authorizer
) -> None:
    # adam's raw token carries cognito:groups ["admins"] but no tenant: tenant-isolation forbids.
    assert outcome(authz, rest(stack.sign_in("adam").access_token, *STATUS)) == "Deny"
    adam = stack.enriched_tokens("adam").access_token
    alice = stack.enriched_tokens("alice").access_token
    assert outcome(authz, rest(adam, *STATUS)) == "Allow"
    assert outcome(authz, rest(alice, *STATUS)) == "Deny"


def test_enriched_id_tokens_work_too(stack: MotoStack) -> None:
    authz = stack.authorizer(AUTH_TOKEN_USE="id")
    assert outcome(authz, rest(stack.enriched_tokens("adam").id_token, *STATUS)) == "Allow"


# --- DynamoDB -> pre-token hook -> claims ----------------------------------------------------


def test_trigger_event_is_the_v2_event_cognito_sends(stack: MotoStack) -> None:
    event = stack.trigger_event("pat")
    assert event["version"] == "2"
    assert event["triggerSource"] == "TokenGeneration_Authentication"
    assert event["userPoolId"] == stack.pool_id
    assert event["callerContext"]["clientId"] == stack.client_id
    assert event["request"]["userAttributes"]["sub"] == stack.subs["pat"]
    assert event["request"]["groupConfiguration"]["groupsToOverride"] == ["payment-initiators"]
    assert event["response"] == {"claimsAndScopeOverrideDetails": None}


def test_hook_adds_the_table_attributes_to_both_tokens(stack: MotoStack) -> None:
    response = stack.run_hook("pat")["claimsAndScopeOverrideDetails"]
    expected = {"tenant": "acme", "department": "finance", "dailyLimit": 5000}
    for key in ("idTokenGeneration", "accessTokenGeneration"):
        assert response[key]["claimsToAddOrOverride"] == expected
    assert "groupOverrideDetails" not in response  # the items hold no groups

    claims = stack.enriched_claims("mallory")
    for kind in ("id", "access"):
        assert claims[kind]["tenant"] == "globex"
        assert claims[kind]["dailyLimit"] == 1000000  # a number (V2), not a string
        assert claims[kind]["permissions"] == [
            "employee:read",
            "invoices:view",
            "invoices:edit",
            "reports:export",
        ]
        assert sorted(claims[kind]["cognito:groups"]) == sorted(split_profile("mallory")[0])
        assert claims[kind]["sub"] == stack.subs["mallory"]
    assert claims["access"]["scope"] == f"{ADMIN_SCOPE} employee:read"  # ACCESS_TOKEN_SCOPES


def test_transfer_under_the_daily_limit_from_dynamodb(stack: MotoStack, authz: Authorizer) -> None:
    pat = stack.enriched_tokens("pat").access_token
    assert outcome(authz, rest(pat, *TRANSFER, query={"amount": "1200"})) == "Allow"
    assert outcome(authz, rest(pat, *TRANSFER, query={"amount": "6000"})) == "Deny"
    # Without the hook there is no dailyLimit (nor tenant): denied whatever the amount.
    raw = stack.sign_in("pat").access_token
    assert outcome(authz, rest(raw, *TRANSFER, query={"amount": "1200"})) == "Deny"


def test_a_changed_item_changes_the_next_token(stack: MotoStack, authz: Authorizer) -> None:
    key = {"sub": {"S": stack.subs["pat"]}}
    stack.dynamodb.update_item(
        TableName=stack.table_name,
        Key=key,
        UpdateExpression="SET dailyLimit = :limit",
        ExpressionAttributeValues={":limit": {"N": "10000"}},
    )
    try:
        pat = stack.enriched_tokens("pat").access_token
        assert outcome(authz, rest(pat, *TRANSFER, query={"amount": "6000"})) == "Allow"
    finally:
        stack.dynamodb.update_item(
            TableName=stack.table_name,
            Key=key,
            UpdateExpression="SET dailyLimit = :limit",
            ExpressionAttributeValues={":limit": {"N": "5000"}},
        )


def test_tenant_isolation(stack: MotoStack, authz: Authorizer) -> None:
    mallory = stack.enriched_tokens("mallory").access_token  # globex, in admins
    assert outcome(authz, rest(mallory, *STATUS)) == "Deny"  # emp-001 is acme's
    assert outcome(authz, rest(mallory, *GLOBEX_STATUS)) == "Allow"
    assert outcome(authz, rest(mallory, *TRANSFER, query={"amount": "10"})) == "Deny"
    assert outcome(authz, rest(mallory, *GLOBEX_TRANSFER, query={"amount": "10"})) == "Allow"
    pat = stack.enriched_tokens("pat").access_token  # acme
    assert outcome(authz, rest(pat, *GLOBEX_TRANSFER, query={"amount": "10"})) == "Deny"


def test_the_hook_grants_the_scope_the_employee_policies_need(
    stack: MotoStack, authz: Authorizer
) -> None:
    # The employees-read policy wants the OAuth scope employee:read; an admin/password sign-in
    # (moto's and Cognito's alike) grants only aws.cognito.signin.user.admin. The template's hook
    # adds the scope to access tokens (ACCESS_TOKEN_SCOPES), as Cognito applies scopesToAdd.
    assert stack.definitions.hook_environment["ACCESS_TOKEN_SCOPES"]
    claims = stack.enriched_claims("alice")["access"]
    assert claims["scope"].split() == [ADMIN_SCOPE, "employee:read"]
    assert outcome(authz, rest(sign(claims), *READ)) == "Allow"
    without = stack.enriched_claims("alice", {"ACCESS_TOKEN_SCOPES": ""})["access"]
    assert without["scope"] == ADMIN_SCOPE
    assert outcome(authz, rest(sign(without), *READ)) == "Deny"


def test_running_stack_starts_and_stops_its_own_server() -> None:
    # moto's state is per process: a second stack on the same moto state needs another name.
    with running_stack(stack_name="cedar-authz-other") as other:
        assert other.table_name == "cedar-authz-other-UserAttributesTable"
        assert other.endpoint.startswith("http://127.0.0.1:")
        token = other.enriched_tokens("adam").access_token
        assert outcome(other.authorizer(), rest(token, *STATUS)) == "Allow"
        jwks_url = other.jwks_url
    with pytest.raises(OSError):
        fetch_json(jwks_url)  # the server is gone
