"""template.yaml's identity resources as the API calls that create them.

``read_template`` reads ``template.yaml`` with cfn-lint's decoder and turns the Cognito user pool,
its app client, its groups and every DynamoDB table into the arguments of the Cognito and DynamoDB
API calls that create them (``Definitions``), resolving the few intrinsics names use (``Ref`` of
pseudo parameters and parameter defaults, ``Fn::Sub`` of those). What moto cannot take is left
out and listed in ``Definitions.skipped``. ``moto_stack`` makes the calls on a moto server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "ROOT",
    "STACK_NAME",
    "TEMPLATE",
    "Definitions",
    "TableDefinition",
    "TemplateError",
    "read_template",
]

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
STACK_NAME = "cedar-authz-local"
ACCOUNT_ID = "123456789012"  # moto's default account

POOL = "AWS::Cognito::UserPool"
CLIENT = "AWS::Cognito::UserPoolClient"
GROUP = "AWS::Cognito::UserPoolGroup"
TABLE = "AWS::DynamoDB::Table"

# CloudFormation properties passed to the API under the same name (CloudFormation and the
# Cognito / DynamoDB APIs spell these alike). Anything else is listed in `skipped`.
_POOL_SAME = frozenset(
    {
        "AccountRecoverySetting", "AdminCreateUserConfig", "AliasAttributes",
        "AutoVerifiedAttributes", "DeletionProtection", "DeviceConfiguration", "MfaConfiguration",
        "Policies", "Schema", "UserAttributeUpdateSettings", "UsernameAttributes",
        "UsernameConfiguration", "UserPoolAddOns", "UserPoolTags", "UserPoolTier",
        "VerificationMessageTemplate",
    }
)  # fmt: skip
_CLIENT_SAME = frozenset(
    {
        "AccessTokenValidity", "AllowedOAuthFlows", "AllowedOAuthFlowsUserPoolClient",
        "AllowedOAuthScopes", "AuthSessionValidity", "CallbackURLs", "DefaultRedirectURI",
        "EnablePropagateAdditionalUserContextData", "EnableTokenRevocation",
        "ExplicitAuthFlows", "GenerateSecret", "IdTokenValidity", "LogoutURLs",
        "PreventUserExistenceErrors", "ReadAttributes", "RefreshTokenValidity",
        "SupportedIdentityProviders", "TokenValidityUnits", "WriteAttributes",
    }
)  # fmt: skip
_GROUP_SAME = frozenset({"Description", "GroupName", "Precedence", "RoleArn"})
_TABLE_SAME = frozenset(
    {
        "AttributeDefinitions", "BillingMode", "DeletionProtectionEnabled",
        "GlobalSecondaryIndexes", "KeySchema", "LocalSecondaryIndexes", "ProvisionedThroughput",
        "TableClass", "Tags",
    }
)  # fmt: skip
# The flow `MotoStack.sign_in` uses. The template's client allows it; it would be added (and
# listed in `skipped`) if the template dropped it: moto checks no flows, Cognito does.
ADMIN_FLOW = "ALLOW_ADMIN_USER_PASSWORD_AUTH"


class TemplateError(ValueError):
    """template.yaml does not hold what the stack is built from."""


@dataclass(frozen=True)
class TableDefinition:
    logical_id: str
    create: dict[str, Any]  # create_table's arguments
    point_in_time_recovery: bool = False
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Definitions:
    """The API calls template.yaml's identity resources come down to (ids filled in later)."""

    pool: dict[str, Any]  # create_user_pool
    client: dict[str, Any]  # create_user_pool_client, without UserPoolId
    groups: tuple[dict[str, Any], ...]  # create_group, without UserPoolId
    tables: tuple[TableDefinition, ...]
    attributes_table: str  # logical id of the table the pre-token hook reads
    skipped: tuple[str, ...]  # "<LogicalId>.<Property>: why", what moto does not get
    # The hook function's plain (string) environment variables, as the template sets them.
    hook_environment: Mapping[str, str] = field(default_factory=dict)


# --- reading it --------------------------------------------------------------------------


def read_template(
    path: Path = TEMPLATE,
    stack_name: str = STACK_NAME,
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
) -> Definitions:
    """template.yaml's user pool, app client, groups and tables as API arguments."""
    from cfnlint.decode import decode  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    decoded, problems = decode(str(path))
    if decoded is None or problems:
        raise TemplateError(f"cannot read {path}: {[str(p) for p in problems or []]}")
    template = _plain(decoded)
    resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = _Resolver(pseudo, template.get("Parameters") or {})
    skipped: list[str] = []

    pool_id = _single(resources, POOL)
    client_id = _single(resources, CLIENT)
    pool_props = _props(resources[pool_id])
    pool: dict[str, Any] = {
        "PoolName": resolver.value(pool_props.get("UserPoolName", f"{stack_name}-{pool_id}"))
    }
    for name, value in pool_props.items():
        if name == "UserPoolName":
            continue
        if name == "LambdaConfig":
            # moto stores LambdaConfig but never invokes a trigger, and the trigger's function is
            # not on the moto server: `MotoStack.enriched_tokens` runs the hook instead.
            skipped.append(f"{pool_id}.LambdaConfig: moto never invokes triggers (run the hook)")
        else:
            _copy(pool, name, value, _POOL_SAME, resolver, f"{pool_id}.{name}", skipped)

    client_props = _props(resources[client_id])
    if client_props.get("UserPoolId") != {"Ref": pool_id}:
        raise TemplateError(f"{client_id}.UserPoolId is not !Ref {pool_id}")
    client: dict[str, Any] = {
        "ClientName": resolver.value(client_props.get("ClientName", f"{stack_name}-{client_id}"))
    }
    for name, value in client_props.items():
        if name not in ("UserPoolId", "ClientName"):
            _copy(client, name, value, _CLIENT_SAME, resolver, f"{client_id}.{name}", skipped)
    flows = list(client.get("ExplicitAuthFlows") or [])
    if ADMIN_FLOW not in flows:
        client["ExplicitAuthFlows"] = [*flows, ADMIN_FLOW]
        skipped.append(f"{client_id}.ExplicitAuthFlows: {ADMIN_FLOW} added for local sign-in")
    # Token validity: moto accepts the settings and ignores them (its tokens live 1 hour).

    groups: list[dict[str, Any]] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != GROUP:
            continue
        props = _props(resource)
        if props.get("UserPoolId") != {"Ref": pool_id}:
            skipped.append(f"{logical_id}: a group of another pool")
            continue
        group: dict[str, Any] = {}
        for name, value in props.items():
            if name != "UserPoolId":
                _copy(group, name, value, _GROUP_SAME, resolver, f"{logical_id}.{name}", skipped)
        groups.append(group)

    tables = tuple(
        _table(logical_id, _props(resource), stack_name, resolver, skipped)
        for logical_id, resource in resources.items()
        if resource.get("Type") == TABLE
    )
    return Definitions(
        pool=pool,
        client=client,
        groups=tuple(groups),
        tables=tables,
        attributes_table=_attributes_table(resources, {t.logical_id for t in tables}),
        skipped=tuple(skipped),
        hook_environment=_hook_environment(resources),
    )


def _table(
    logical_id: str,
    props: Mapping[str, Any],
    stack_name: str,
    resolver: _Resolver,
    skipped: list[str],
) -> TableDefinition:
    # No TableName: CloudFormation names it <stack>-<LogicalId>-<random>; here without the suffix.
    create: dict[str, Any] = {
        "TableName": resolver.value(props.get("TableName", f"{stack_name}-{logical_id}"))
    }
    pitr = False
    ttl: str | None = None
    for name, value in props.items():
        where = f"{logical_id}.{name}"
        try:
            if name == "TableName":
                continue
            if name == "SSESpecification":  # CloudFormation's SSEEnabled is the API's Enabled
                sse = dict(resolver.value(value))
                sse["Enabled"] = bool(sse.pop("SSEEnabled", False))
                create["SSESpecification"] = sse
            elif name == "StreamSpecification":
                create["StreamSpecification"] = {"StreamEnabled": True, **resolver.value(value)}
            elif name == "PointInTimeRecoverySpecification":  # UpdateContinuousBackups, after
                pitr = bool(resolver.value(value).get("PointInTimeRecoveryEnabled", False))
            elif name == "TimeToLiveSpecification":  # UpdateTimeToLive, after
                spec = resolver.value(value)
                ttl = spec.get("AttributeName") if spec.get("Enabled") else None
            else:
                _copy(create, name, value, _TABLE_SAME, resolver, where, skipped)
        except _Unresolvable as why:
            skipped.append(f"{where}: {why}")
    return TableDefinition(logical_id, create, pitr, ttl)


def _hook_environment(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The string variables of the function that reads the user-attributes table (the hook);
    intrinsic values (!Ref) are left out: the stack supplies those itself."""
    for resource in resources.values():
        variables = (_props(resource).get("Environment") or {}).get("Variables") or {}
        if "USER_ATTRIBUTES_TABLE" in variables:
            return {k: v for k, v in variables.items() if isinstance(v, str)}
    return {}


def _attributes_table(resources: Mapping[str, Mapping[str, Any]], tables: set[str]) -> str:
    """The table a function's USER_ATTRIBUTES_TABLE names (!Ref), else the only table."""
    for resource in resources.values():
        env = _props(resource).get("Environment") or {}
        ref = (env.get("Variables") or {}).get("USER_ATTRIBUTES_TABLE")
        if isinstance(ref, Mapping) and ref.get("Ref") in tables:
            return str(ref["Ref"])
    if len(tables) == 1:
        return next(iter(tables))
    raise TemplateError("no function names the user-attributes table (USER_ATTRIBUTES_TABLE)")


def _single(resources: Mapping[str, Mapping[str, Any]], kind: str) -> str:
    found = [logical_id for logical_id, r in resources.items() if r.get("Type") == kind]
    if len(found) != 1:
        raise TemplateError(f"expected one {kind} in the template, found {found}")
    return found[0]


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties") or {}
    return dict(props) if isinstance(props, Mapping) else {}


def _copy(
    target: dict[str, Any],
    name: str,
    value: Any,
    same: frozenset[str],
    resolver: _Resolver,
    where: str,
    skipped: list[str],
) -> None:
    if name not in same:
        skipped.append(f"{where}: not mapped to the API")
        return
    try:
        target[name] = resolver.value(value)
    except _Unresolvable as why:
        skipped.append(f"{where}: {why}")


def _plain(value: Any) -> Any:
    """cfn-lint's node classes (dict, str and list subclasses with positions) as plain values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class _Unresolvable(ValueError):
    pass


@dataclass(frozen=True)
class _Resolver:
    """Just enough of CloudFormation's intrinsics for names: Ref of pseudo parameters and
    parameters (their defaults), Fn::Sub of those. Anything else is unresolvable."""

    pseudo: Mapping[str, str]
    parameters: Mapping[str, Any]

    def value(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self.ref(str(arg))
                if key == "Fn::Sub" and isinstance(arg, str):
                    return self.sub(arg)
                if key.startswith("Fn::") or key == "Condition":
                    raise _Unresolvable(f"{key} is not resolved locally")
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        parameter = self.parameters.get(name)
        if isinstance(parameter, Mapping) and "Default" in parameter:
            return parameter["Default"]
        raise _Unresolvable(f"Ref {name} is a resource or a parameter without a default")

    def sub(self, text: str) -> str:
        out: list[str] = []
        rest = text
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, closed, rest = after.partition("}")
            if not closed:
                raise _Unresolvable(f"unclosed ${{ in {text!r}")
            out += [before, str(self.ref(name))]
        return "".join([*out, rest])
