"""The template's identity resources on a moto server: for tests and local work.

``build_stack(endpoint)`` reads ``template.yaml`` (``stack_template.read_template``) and
creates, on the moto server at ``endpoint`` (a ``ThreadedMotoServer`` on loopback;
``running_stack()`` starts one), what the template defines for identity:

- the Cognito user pool, its app client and its groups, from the template's own properties (what
  moto cannot take is left out and listed in ``MotoStack.skipped``);
- every DynamoDB table of the template, the user-attributes table (the one the pre-token hook's
  ``USER_ATTRIBUTES_TABLE`` names) filled with one item per sample user: the claims of
  ``SAMPLE_USERS`` keyed by the ``sub`` moto's Cognito assigned that user;
- the sample users (``SAMPLE_USERS``), with a permanent password and their Cognito groups.

moto's Cognito signs RS256 ID and access tokens (kid ``dummy``) with a key pair shipped inside
moto, and serves the public half at ``<endpoint>/<poolId>/.well-known/jwks.json``; the tokens'
``iss`` is still ``https://cognito-idp.<region>.amazonaws.com/<poolId>``. So the authorizer is
configured with that issuer and the moto server's JWKS URL (``MotoStack.authorizer_environment``)
and verifies moto's tokens over HTTP, as it would verify Cognito's.

moto never invokes Lambda triggers. ``MotoStack.enriched_tokens`` does what Cognito does with the
template's V2_0 pre-token trigger: it signs the user in, runs ``pre_token_hook`` on the V2 event
Cognito would send (the hook reads the table through the moto server's DynamoDB endpoint), applies
the hook's response to moto's claims, and signs the result with moto's own private key (read from
moto's package data, the file moto's Cognito signs with) under moto's kid. The enriched tokens
therefore verify through the JWKS moto serves, exactly like an enriched Cognito token.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import jwt
from boto3.dynamodb.types import TypeSerializer

from authorizer.sdk.client import Authorizer
from authorizer.tooling.local.stack_template import (
    REGION,
    ROOT,
    STACK_NAME,
    TEMPLATE,
    Definitions,
    TemplateError,
    read_template,
)
from authorizer.tooling.local.users import SAMPLE_USERS
from pre_token_hook.attributes import DynamoDBAttributeSource
from pre_token_hook.claims import TokenKind
from pre_token_hook.config import load_settings
from pre_token_hook.handler import Runtime, handle
from pre_token_hook.trigger import apply_override

__all__ = [
    "ADMIN_SCOPE",
    "PASSWORD",
    "REGION",
    "STACK_NAME",
    "TEMPLATE",
    "Definitions",
    "MotoStack",
    "TemplateError",
    "Tokens",
    "build_stack",
    "describe",
    "moto_public_jwks",
    "moto_signing_jwk",
    "read_template",
    "running_stack",
    "sign",
]

# Fits the template's password policy (12+ characters, upper, lower, digits), which moto enforces.
PASSWORD = "Local-Sample-Passw0rd"
# The access token scope of every admin/password sign-in (Cognito's and moto's alike).
ADMIN_SCOPE = "aws.cognito.signin.user.admin"
# moto's Cognito signs with this JWK (its public half is what moto serves as the pool's JWKS).
MOTO_PRIVATE_JWK = "cognitoidp/resources/jwks-private.json"
MOTO_PUBLIC_JWKS = "cognitoidp/resources/jwks-public.json"


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str

    def get(self, token_use: TokenKind) -> str:
        return self.access_token if token_use == "access" else self.id_token


# --- the stack -----------------------------------------------------------------------------


@dataclass
class MotoStack:
    """What a test needs of the stack built on a moto server."""

    endpoint: str
    region: str
    pool_id: str
    client_id: str
    table_name: str  # the user-attributes table
    tables: dict[str, str]  # logical id -> table name, every table of the template
    subs: dict[str, str]  # username -> the sub moto's Cognito assigned
    cognito: Any = field(repr=False)
    dynamodb: Any = field(repr=False)
    definitions: Definitions = field(repr=False)
    password: str = PASSWORD

    @property
    def issuer(self) -> str:
        """The `iss` of moto's tokens (Cognito's form, not the moto server's URL)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        """The pool's key set as the moto server serves it (http on loopback)."""
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"

    @property
    def skipped(self) -> tuple[str, ...]:
        return self.definitions.skipped

    def authorizer_environment(self, **overrides: str) -> dict[str, str]:
        """The authorizer's settings against this stack, with the sample app's policies."""
        return {
            "AUTH_ISSUER": self.issuer,
            "AUTH_JWKS_URL": self.jwks_url,
            "AUTH_CLIENT_IDS": self.client_id,
            "AUTH_TOKEN_USE": "access",
            "CEDAR_POLICY_DIR": str(ROOT / "policies"),
            "CEDAR_SCHEMA": str(ROOT / "schemas" / "corp.cedarschema"),
            "CEDAR_ENTITIES": str(ROOT / "entities" / "corp.json"),
            "ENTITY_ID_PREFIX": "",  # the sample policies name groups without the pool id
            **overrides,
        }

    def authorizer(self, **overrides: str) -> Authorizer:
        """An authorizer fetching the pool's keys from the moto server over HTTP."""
        return Authorizer.from_env(self.authorizer_environment(**overrides))

    # --- sign-in, as the app client would ---

    def sign_in(self, username: str) -> Tokens:
        """moto's own tokens for a user (ADMIN_USER_PASSWORD_AUTH): no trigger has run."""
        answer = self.cognito.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": self.password},
        )
        result = answer["AuthenticationResult"]
        return Tokens(id_token=result["IdToken"], access_token=result["AccessToken"])

    # --- the pre-token trigger, which moto does not run ---

    def trigger_event(self, username: str, scopes: list[str] | None = None) -> dict[str, Any]:
        """The V2 pre-token-generation event Cognito sends for a sign-in of ``username``."""
        user = self.cognito.admin_get_user(UserPoolId=self.pool_id, Username=username)
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        attributes["cognito:user_status"] = user.get("UserStatus", "CONFIRMED")
        listed = self.cognito.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=username)
        return {
            "version": "2",
            "triggerSource": "TokenGeneration_Authentication",
            "region": self.region,
            "userPoolId": self.pool_id,
            "userName": username,
            "callerContext": {
                "awsSdkVersion": "aws-sdk-unknown-unknown",
                "clientId": self.client_id,
            },
            "request": {
                "userAttributes": attributes,
                "groupConfiguration": {
                    "groupsToOverride": [g["GroupName"] for g in listed.get("Groups", [])],
                    "iamRolesToOverride": [],
                    "preferredRole": None,
                },
                "scopes": scopes if scopes is not None else [ADMIN_SCOPE],
            },
            "response": {"claimsAndScopeOverrideDetails": None},
        }

    def hook_runtime(self, environ: Mapping[str, str] | None = None) -> Runtime:
        """The hook as the template configures it, reading the table on the moto server."""
        env = {
            **self.definitions.hook_environment,
            "USER_ATTRIBUTES_TABLE": self.table_name,
            **(environ or {}),
        }
        settings = load_settings(env)
        table = settings.table or self.table_name
        return Runtime(settings, DynamoDBAttributeSource(table, self.dynamodb))

    def run_hook(self, username: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The hook's ``response`` for a sign-in of ``username`` (DynamoDB -> hook)."""
        response: dict[str, Any] = handle(self.trigger_event(username), self.hook_runtime(environ))[
            "response"
        ]
        return response

    def enriched_claims(
        self, username: str, environ: Mapping[str, str] | None = None
    ) -> dict[TokenKind, dict[str, Any]]:
        """The claims Cognito would issue with the template's trigger: moto's tokens' claims
        with the hook's response applied, per token."""
        tokens = self.sign_in(username)
        response = self.run_hook(username, environ)
        return {
            kind: apply_override(_claims(tokens.get(kind)), response, kind)
            for kind in ("id", "access")
        }

    def enriched_tokens(self, username: str, environ: Mapping[str, str] | None = None) -> Tokens:
        """``enriched_claims`` signed with moto's own key: they verify through moto's JWKS."""
        claims = self.enriched_claims(username, environ)
        return Tokens(id_token=sign(claims["id"]), access_token=sign(claims["access"]))


def _claims(token: str) -> dict[str, Any]:
    """A token's claims, unverified: only for tokens just received from moto."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def moto_signing_jwk() -> dict[str, Any]:
    """The private JWK moto's Cognito signs every token with (moto's package data)."""
    from moto.utilities.utils import load_resource  # noqa: PLC0415  # moto: tests and local only

    jwk: dict[str, Any] = load_resource(MOTO_PRIVATE_JWK)
    return jwk


def moto_public_jwks() -> dict[str, Any]:
    """The key set moto serves for every pool (moto's package data)."""
    from moto.utilities.utils import load_resource  # noqa: PLC0415

    jwks: dict[str, Any] = load_resource(MOTO_PUBLIC_JWKS)
    return jwks


def sign(claims: Mapping[str, Any]) -> str:
    """Claims signed as moto's Cognito signs them (RS256, moto's key and kid)."""
    jwk = moto_signing_jwk()
    key = jwt.PyJWK(jwk, algorithm="RS256")
    return jwt.encode(dict(claims), key.key, algorithm="RS256", headers={"kid": jwk["kid"]})


def build_stack(
    endpoint: str,
    template: Path = TEMPLATE,
    stack_name: str = STACK_NAME,
    region: str = REGION,
    users: Mapping[str, Mapping[str, Any]] = SAMPLE_USERS,
) -> MotoStack:
    """Create the template's pool, client, groups and tables and the sample users on the moto
    server at ``endpoint``. Table names derive from ``stack_name``: one stack per name per
    moto server (moto's state is per process)."""
    definitions = read_template(template, stack_name, region)
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    cognito: Any = session.client("cognito-idp", endpoint_url=endpoint)
    dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint)

    pool_id: str = cognito.create_user_pool(**definitions.pool)["UserPool"]["Id"]
    client_id: str = cognito.create_user_pool_client(UserPoolId=pool_id, **definitions.client)[
        "UserPoolClient"
    ]["ClientId"]
    for group in definitions.groups:
        cognito.create_group(UserPoolId=pool_id, **group)

    tables: dict[str, str] = {}
    for table in definitions.tables:
        name = table.create["TableName"]
        dynamodb.create_table(**table.create)
        if table.point_in_time_recovery:
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        tables[table.logical_id] = name
    table_name = tables[definitions.attributes_table]

    known_groups = {g["GroupName"] for g in definitions.groups}
    serializer = TypeSerializer()
    subs: dict[str, str] = {}
    for username in users:
        groups, claims = _profile(users, username)
        missing = set(groups) - known_groups
        if missing:
            raise TemplateError(f"{username}'s groups {sorted(missing)} are not in the template")
        created = cognito.admin_create_user(
            UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS"
        )["User"]
        sub = next(a["Value"] for a in created["Attributes"] if a["Name"] == "sub")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True
        )
        for group_name in groups:
            cognito.admin_add_user_to_group(
                UserPoolId=pool_id, Username=username, GroupName=group_name
            )
        item = {"sub": sub, **claims}
        dynamodb.put_item(
            TableName=table_name, Item={k: serializer.serialize(v) for k, v in item.items()}
        )
        subs[username] = sub

    return MotoStack(
        endpoint=endpoint.rstrip("/"),
        region=region,
        pool_id=pool_id,
        client_id=client_id,
        table_name=table_name,
        tables=tables,
        subs=subs,
        cognito=cognito,
        dynamodb=dynamodb,
        definitions=definitions,
    )


def _profile(
    users: Mapping[str, Mapping[str, Any]], username: str
) -> tuple[list[str], dict[str, Any]]:
    """(Cognito groups, the attributes the table holds) of a user, as ``split_profile``."""
    profile = dict(users[username])
    return list(profile.pop("groups", [])), profile


@contextmanager
def running_stack(
    template: Path = TEMPLATE, stack_name: str = STACK_NAME, region: str = REGION
) -> Iterator[MotoStack]:
    """A moto server on a free loopback port with the stack built on it; stopped on exit."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415  # moto: tests and local only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield build_stack(f"http://{host}:{port}", template, stack_name, region)
    finally:
        server.stop()


def describe(stack: MotoStack) -> str:
    """The stack's ids and the authorizer's settings, one per line (for local work)."""
    lines = [
        f"moto endpoint     {stack.endpoint}",
        f"user pool         {stack.pool_id}",
        f"app client        {stack.client_id}",
        f"attributes table  {stack.table_name}",
        *(f"{k}={v}" for k, v in stack.authorizer_environment().items()),
        *(f"skipped: {s}" for s in stack.skipped),
    ]
    return "\n".join(lines)
