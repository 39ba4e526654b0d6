"""The SAM template (template.yaml) against the engine and the sample application.

- cfn-lint is clean (the same check `make test` runs).
- Every route of the REST API and of the HTTP API is an action of the schema, and vice versa.
- Caching (docs/architecture.md, Caching: level 1): the routes on the token-keyed REST
  authorizer are exactly the engine's token-level routes; every other route is on the
  request-level authorizer, which is uncached or keyed by what its routes' decisions read; the
  HTTP API's authorizer is uncached unless every route is token-level.
- The authorizer's environment, taken from the template, loads the sample policies as deployed.
- Cognito: the pre-token hook is a V2_0 trigger with its invoke permission; the pool's groups
  cover every group the sample names.
- The revocation table: its key and TTL attribute, and the authorizer's REVOCATION_TABLE with
  read-only access to that table alone.

The template is parsed with cfn-lint's own loader (it knows !Ref, !Sub, !GetAtt, !If).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample import sample_environment
from authorizer.tooling.local.users import SAMPLE_USERS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
JWKS_URL = "http://127.0.0.1/.well-known/jwks.json"
NO_KEYS = b'{"keys": []}'

Route = tuple[str, str]  # (METHOD, path template)
Resources = dict[str, Mapping[str, Any]]


# ------------------------------------------------------------------------------------- helpers
def resources_of(template: Mapping[str, Any], kind: str) -> Resources:
    """Logical id -> Properties of every resource of one type."""
    return {
        name: resource.get("Properties", {})
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def parameter_value(template: Mapping[str, Any], value: Any) -> Any:
    """A literal, or a !Ref to a parameter resolved to its default (what a plain deploy uses)."""
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        parameter = template.get("Parameters", {}).get(value["Ref"])
        assert parameter is not None, f"{value['Ref']} is not a parameter"
        assert "Default" in parameter, f"parameter {value['Ref']} has no default"
        return parameter["Default"]
    return value


def default_branch(template: Mapping[str, Any], value: Any) -> Any:
    """For `!If [C, a, b]` where C is `!Equals [!Ref P, ""]` and P defaults to "": `a`, the branch
    a deploy with default parameters takes. Anything else is returned unchanged."""
    if not (isinstance(value, Mapping) and set(value) == {"Fn::If"}):
        return value
    condition, when_true, when_false = value["Fn::If"]
    left, right = template["Conditions"][condition]["Fn::Equals"]
    assert right == "", f"condition {condition} is not an empty-parameter test"
    return when_true if parameter_value(template, left) == "" else when_false


def runtime_of(template: Mapping[str, Any], function: Mapping[str, Any]) -> Any:
    globals_ = template.get("Globals", {}).get("Function", {})
    return function.get("Runtime", globals_.get("Runtime"))


def api_routes(template: Mapping[str, Any], api: str, event_type: str) -> dict[Route, str]:
    """(METHOD, path) -> authorizer name of every function event routed to one API."""
    api_properties = template["Resources"][api]["Properties"]
    default = api_properties.get("Auth", {}).get("DefaultAuthorizer")
    api_key = "RestApiId" if event_type == "Api" else "ApiId"
    routes: dict[Route, str] = {}
    for function, properties in resources_of(template, "AWS::Serverless::Function").items():
        for event_name, event in properties.get("Events", {}).items():
            if event["Type"] != event_type:
                continue
            source = event["Properties"]
            assert source.get(api_key) == ref(api), (
                f"{function}.{event_name} is not routed to {api}: an implicit API would have no "
                "authorizer"
            )
            route = (source["Method"].upper(), source["Path"])
            assert route not in routes, f"{route} is routed twice on {api}"
            authorizer = source.get("Auth", {}).get("Authorizer", default)
            assert authorizer and authorizer != "NONE", f"{function}.{event_name}: no authorizer"
            routes[route] = authorizer
    return routes


def route_set(routes: Any) -> set[Route]:
    return {(route.method, route.template) for route in routes}


def identity_keys(identity: Mapping[str, Any]) -> dict[str, set[str]]:
    return {
        kind: set(identity.get(kind, []))
        for kind in ("Headers", "QueryStrings", "StageVariables", "Context")
    }


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, matches = decode(str(TEMPLATE))
    assert not matches, [str(match) for match in matches]
    assert loaded is not None
    return dict(loaded)


@pytest.fixture(scope="module")
def engine() -> Authorizer:
    """The sample application as the authorizer sees it (schema, policies, entities)."""
    env = sample_environment(LocalIssuer(), JWKS_URL)
    return Authorizer.from_env(env, fetch=lambda _url: NO_KEYS)


@pytest.fixture(scope="module")
def functions(template: dict[str, Any]) -> Resources:
    return resources_of(template, "AWS::Serverless::Function")


@pytest.fixture(scope="module")
def rest_routes(template: dict[str, Any]) -> dict[Route, str]:
    return api_routes(template, "RestApi", "Api")


@pytest.fixture(scope="module")
def http_routes(template: dict[str, Any]) -> dict[Route, str]:
    return api_routes(template, "HttpApi", "HttpApi")


# ------------------------------------------------------------------------------------- cfn-lint
def test_cfn_lint_is_clean() -> None:
    # The cfn-lint of this interpreter's environment (its console script calls this same main).
    runner = "import sys; from cfnlint.runner import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", runner, str(TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------- routes
def test_rest_api_routes_are_the_schema_actions(
    engine: Authorizer, rest_routes: dict[Route, str]
) -> None:
    assert set(rest_routes) == route_set(engine.routes.routes)


def test_http_api_routes_are_the_schema_actions(
    engine: Authorizer, http_routes: dict[Route, str]
) -> None:
    assert set(http_routes) == route_set(engine.routes.routes)


def test_sample_has_both_kinds_of_routes(engine: Authorizer) -> None:
    # Otherwise the caching checks below would prove little.
    token = route_set(engine.token_routes)
    assert token == {("GET", "/employees"), ("GET", "/invoices")}
    assert route_set(engine.routes.routes) - token


# -------------------------------------------------------------------------------------- caching
def rest_authorizers(template: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    auth = template["Resources"]["RestApi"]["Properties"]["Auth"]
    authorizers: Mapping[str, Mapping[str, Any]] = auth["Authorizers"]
    return authorizers


def test_rest_authorizers_are_request_authorizers_on_the_one_function(
    template: dict[str, Any],
) -> None:
    authorizers = rest_authorizers(template)
    assert set(authorizers) == {"TokenAuthorizer", "RequestAuthorizer"}
    for authorizer in authorizers.values():
        assert authorizer["FunctionPayloadType"] == "REQUEST"
        assert authorizer["FunctionArn"] == get_att("AuthorizerFunction", "Arn")
    auth = template["Resources"]["RestApi"]["Properties"]["Auth"]
    # A route added without naming an authorizer falls to the safe (request-level) one.
    assert auth["DefaultAuthorizer"] == "RequestAuthorizer"


def test_token_authorizer_guards_exactly_the_token_level_routes(
    engine: Authorizer, rest_routes: dict[Route, str]
) -> None:
    on_token = {route for route, name in rest_routes.items() if name == "TokenAuthorizer"}
    assert on_token == route_set(engine.token_routes)
    others = set(rest_routes) - on_token
    assert {rest_routes[route] for route in others} == {"RequestAuthorizer"}


def test_token_authorizer_is_keyed_by_the_authorization_header_alone(
    template: dict[str, Any],
) -> None:
    identity = rest_authorizers(template)["TokenAuthorizer"]["Identity"]
    keys = identity_keys(identity)
    assert keys == {
        "Headers": {"Authorization"},
        "QueryStrings": set(),
        "StageVariables": set(),
        "Context": set(),
    }
    # Uncached with a policy bundle, whose policies may make a route read the request (a
    # deployed wiring cannot follow them); cached otherwise: one IAM policy per token covers
    # every token route.
    chosen = identity["ReauthorizeEvery"]
    assert chosen == {"Fn::If": ["UseBundle", 0, {"Ref": "TokenAuthorizerTtl"}]}
    assert template["Conditions"]["UseBundle"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PolicyBundleKey"}, ""]}]
    }
    ttl = parameter_value(template, chosen["Fn::If"][2])
    assert 0 < int(ttl) <= 3600
    assert int(ttl) == 300


def test_request_authorizer_is_uncached_or_keyed_by_the_request(
    template: dict[str, Any], engine: Authorizer, rest_routes: dict[Route, str]
) -> None:
    identity = rest_authorizers(template)["RequestAuthorizer"]["Identity"]
    keys = identity_keys(identity)
    ttl = int(parameter_value(template, identity["ReauthorizeEvery"]))
    assert keys["Headers"] == {"Authorization"}
    keyed_by_route = {"httpMethod", "path"} <= keys["Context"]
    assert ttl == 0 or keyed_by_route
    # With the method and the concrete path in the key, a decision may be cached only when it
    # reads no context but the token: source IP, time and query parameters are not in the key.
    on_request = [
        route
        for route in engine.routes.routes
        if rest_routes[(route.method, route.template)] == "RequestAuthorizer"
    ]
    reads_more = [
        route.action_id
        for route in on_request
        if (reads := engine.context_reads(route)) is None or reads - {"token"}
    ]
    assert reads_more, "the sample has request-context routes (reports export, transfers)"
    assert ttl == 0, f"{reads_more} read request context that the cache key does not hold"


def test_http_api_authorizer(
    template: dict[str, Any], engine: Authorizer, http_routes: dict[Route, str]
) -> None:
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert set(auth["Authorizers"]) == {auth["DefaultAuthorizer"]}
    assert set(http_routes.values()) == {auth["DefaultAuthorizer"]}
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert authorizer["FunctionArn"] == get_att("AuthorizerFunction", "Arn")
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    # Without it (or an explicit lambda:InvokeFunction permission) API Gateway cannot call us.
    assert authorizer["EnableFunctionDefaultPermissions"] is True
    identity = authorizer["Identity"]
    assert identity_keys(identity) == {
        "Headers": {"Authorization"},
        "QueryStrings": set(),
        "StageVariables": set(),
        "Context": {"routeKey"},
    }
    # Keyed by token and route key: right only for token-level routes.
    ttl = int(parameter_value(template, identity["ReauthorizeEvery"]))
    assert ttl == 0 or set(http_routes) <= route_set(engine.token_routes)


def test_translated_authorizers(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the SAM translator is installed: what API Gateway will really be given."""
    transform = pytest.importorskip("samtranslator.translator.transform").transform
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    source = json.loads(json.dumps(template))
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = "s3://bucket/key"  # what `sam package` writes

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    out = transform(source, {}, NoManagedPolicies())
    rest = out["Resources"]["RestApi"]["Properties"]["Body"]["securityDefinitions"]
    token = rest["TokenAuthorizer"]["x-amazon-apigateway-authorizer"]
    request = rest["RequestAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert (token["type"], request["type"]) == ("request", "request")
    assert token["identitySource"] == "method.request.header.Authorization"
    assert token["authorizerResultTtlInSeconds"] == {"Fn::If": ["UseBundle", 0, 300]}
    assert request["identitySource"].split(", ") == [
        "method.request.header.Authorization",
        "context.httpMethod",
        "context.path",
    ]
    assert request["authorizerResultTtlInSeconds"] == 0
    http = out["Resources"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    cedar = http["CedarAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert cedar["identitySource"] == ["$request.header.Authorization", "$context.routeKey"]
    assert cedar["authorizerPayloadFormatVersion"] == "2.0"
    assert cedar["enableSimpleResponses"] is True


# ------------------------------------------------------------------------------ the authorizer
def test_authorizer_function(template: dict[str, Any], functions: Resources) -> None:
    function = functions["AuthorizerFunction"]
    assert runtime_of(template, function) == "python3.12"
    assert function["Handler"] == "authorizer.handler.lambda_handler"
    assert function["CodeUri"] == "."
    env = function["Environment"]["Variables"]
    assert default_branch(template, env["AUTH_ISSUER"]) == {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
    }
    assert default_branch(template, env["AUTH_CLIENT_IDS"]) == ref("UserPoolClient")
    assert env["CEDAR_POLICY_DIR"] == "policies"
    assert env["CEDAR_SCHEMA"] == "schemas/corp.cedarschema"
    assert env["CEDAR_ENTITIES"] == "entities/corp.json"
    # Set and empty: the sample policies name groups without the pool id prefix.
    assert parameter_value(template, env["ENTITY_ID_PREFIX"]) == ""


def test_authorizer_environment_loads_the_sample_as_deployed(
    template: dict[str, Any],
    functions: Resources,
    engine: Authorizer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The function's environment from the template, run from its CodeUri as Lambda runs it from
    /var/task: it finds the policies, schema and entities and decides on the same routes."""
    function = functions["AuthorizerFunction"]
    issuer = LocalIssuer()
    env: dict[str, str] = {}
    for name, value in function["Environment"]["Variables"].items():
        if isinstance(value, Mapping) and value.get("Ref") in template["Resources"]:
            continue  # a resource of the stack (the revocation table): checked on its own
        literal = parameter_value(template, value)
        if isinstance(literal, str | int | float):
            env[name] = str(literal)
    # What CloudFormation fills in: the pool's issuer and the app client id (a local look-alike).
    assert {"AUTH_ISSUER", "AUTH_CLIENT_IDS"}.isdisjoint(env)
    env |= {"AUTH_ISSUER": issuer.issuer, "AUTH_CLIENT_IDS": issuer.client_id}
    env["AUTH_JWKS_URL"] = JWKS_URL  # the real one is derived from the issuer
    monkeypatch.chdir(ROOT / function["CodeUri"])
    deployed = Authorizer.from_env(env, fetch=lambda _url: NO_KEYS)
    assert deployed.settings.entity_id_prefix == ""
    assert deployed.settings.decision_cache_ttl == 60
    assert route_set(deployed.routes.routes) == route_set(engine.routes.routes)
    assert route_set(deployed.token_routes) == route_set(engine.token_routes)


def test_python_handlers_resolve_from_their_code_uri(functions: Resources) -> None:
    for name, function in functions.items():
        if "InlineCode" in function:
            continue
        module, _, attribute = function["Handler"].rpartition(".")
        path = ROOT / function["CodeUri"] / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{name}: {path} is not in its package"
        assert re.search(rf"^def {attribute}\(", path.read_text(encoding="utf-8"), re.MULTILINE)


def test_requirements_leave_boto3_to_the_runtime() -> None:
    """`sam build` installs a CodeUri's requirements.txt: the runtime dependencies, not boto3
    (the runtime ships it) nor PyJWT (nothing packaged imports it)."""
    requirements = ROOT / "requirements.txt"
    if not requirements.exists():
        pytest.skip("no requirements.txt at the repository root: `sam build` would install nothing")
    names = {
        re.split(r"[\s\[<>=!~;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {
        re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in project["dependencies"]
    }
    # PyJWT stays a dependency of the project (the local tooling signs tokens with it), not of
    # the functions: neither imports it (tests/test_cold_path.py).
    assert needed - {"pyjwt"} <= names
    assert not names & {"boto3", "botocore", "pyjwt"}


# ----------------------------------------------------------------------------- Cognito + tables
def test_pre_token_hook_is_a_v2_trigger_with_its_permission(
    template: dict[str, Any], functions: Resources
) -> None:
    pool = resources_of(template, "AWS::Cognito::UserPool")["UserPool"]
    assert pool["UserPoolTier"] == "ESSENTIALS"  # V2_0 events need the Essentials plan
    lambda_config = pool["LambdaConfig"]
    assert "PreTokenGeneration" not in lambda_config  # the legacy (V1) wiring
    assert lambda_config["PreTokenGenerationConfig"] == {
        "LambdaArn": get_att("PreTokenHookFunction", "Arn"),
        "LambdaVersion": "V2_0",
    }
    hook = functions["PreTokenHookFunction"]
    assert hook["Handler"] == "pre_token_hook.handler.lambda_handler"
    assert runtime_of(template, hook) == "python3.12"
    assert not hook.get("Events")  # SAM's Cognito event would wire V1
    permissions = [
        p
        for p in resources_of(template, "AWS::Lambda::Permission").values()
        if p["FunctionName"]
        in (get_att("PreTokenHookFunction", "Arn"), ref("PreTokenHookFunction"))
    ]
    assert len(permissions) == 1
    assert permissions[0]["Action"] == "lambda:InvokeFunction"
    assert permissions[0]["Principal"] == "cognito-idp.amazonaws.com"
    assert permissions[0]["SourceArn"] == get_att("UserPool", "Arn")


def test_user_attributes_table(template: dict[str, Any], functions: Resources) -> None:
    table = resources_of(template, "AWS::DynamoDB::Table")["UserAttributesTable"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "sub", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "sub", "AttributeType": "S"}]
    hook = functions["PreTokenHookFunction"]
    assert hook["Environment"]["Variables"]["USER_ATTRIBUTES_TABLE"] == ref("UserAttributesTable")
    statements = [s for policy in hook["Policies"] for s in policy["Statement"]]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": get_att("UserAttributesTable", "Arn"),
        }
    ]


def test_revocation_table(template: dict[str, Any], functions: Resources) -> None:
    """The table authorizer/identity/revocation.py reads: pk a string, TTL on expires_at; the authorizer
    has its name and may read it (BatchGetItem, GetItem), that table only, and write nothing."""
    table = resources_of(template, "AWS::DynamoDB::Table")["RevocationTable"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    authorizer = functions["AuthorizerFunction"]
    assert authorizer["Environment"]["Variables"]["REVOCATION_TABLE"] == ref("RevocationTable")
    statements = [s for policy in authorizer["Policies"] for s in policy["Statement"]]
    dynamodb = [s for s in statements if "Fn::If" not in s]  # the bundle's are conditional
    assert dynamodb == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:GetItem"],
            "Resource": get_att("RevocationTable", "Arn"),
        }
    ]


def test_policy_bundles(template: dict[str, Any], functions: Resources) -> None:
    """A versioned, private, encrypted bucket; with PolicyBundleKey set, the authorizer reads
    that key only (and lists the tenants' prefix, so a missing tenant bundle is a 404); with it
    empty (the default) no bundle variable, no S3 permission: the packaged policies serve."""
    bucket = resources_of(template, "AWS::S3::Bucket")["PolicyBundleBucket"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert template["Parameters"]["PolicyBundleKey"]["Default"] == ""
    env = functions["AuthorizerFunction"]["Environment"]["Variables"]
    assert env["CEDAR_POLICY_BUNDLE"] == {"Fn::If": [
        "UseBundle", {"Fn::Sub": "s3://${PolicyBundleBucket}/${PolicyBundleKey}"},
        {"Ref": "AWS::NoValue"}]}  # fmt: skip
    assert env["CEDAR_TENANT_CLAIM"]["Fn::If"][0] == "UseTenantBundles"
    statements = [s for policy in functions["AuthorizerFunction"]["Policies"]
                  for s in policy["Statement"] if "Fn::If" in s]  # fmt: skip
    (get,) = [s["Fn::If"] for s in statements if s["Fn::If"][0] == "UseBundle"]
    assert get[1]["Action"] == "s3:GetObject"
    key_only = {"Fn::Join": ["*", {"Fn::Split": ["{tenant}", {"Ref": "PolicyBundleKey"}]}]}
    assert get[1]["Resource"]["Fn::Sub"][1] == {"Key": key_only}
    assert get[2] == {"Ref": "AWS::NoValue"}
    (listing,) = [s["Fn::If"] for s in statements if s["Fn::If"][0] == "UseTenantBundles"]
    assert listing[1]["Condition"] == {"StringLike": {"s3:prefix": key_only}}
    conditions = template["Conditions"]
    assert conditions["UseBundle"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PolicyBundleKey"}, ""]}]
    }


def sample_group_names() -> set[str]:
    entities = json.loads((ROOT / "entities" / "corp.json").read_text(encoding="utf-8"))
    names = {e["uid"]["id"] for e in entities if e["uid"]["type"].endswith("::UserGroup")}
    names |= {group for user in SAMPLE_USERS.values() for group in user["groups"]}
    for policy in (ROOT / "policies").glob("*.cedar"):
        names |= set(re.findall(r'UserGroup::"([^"]+)"', policy.read_text(encoding="utf-8")))
    return names


def test_user_pool_groups_cover_the_sample_groups(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Cognito::UserPoolGroup").values()
    assert all(group["UserPoolId"] == ref("UserPool") for group in groups)
    names = {group["GroupName"] for group in groups}
    expected = sample_group_names()
    assert {"admins", "hr", "hr-engineering", "payment-initiators"} <= expected
    assert expected <= names


def test_app_client_belongs_to_the_pool(template: dict[str, Any]) -> None:
    client = resources_of(template, "AWS::Cognito::UserPoolClient")["UserPoolClient"]
    assert client["UserPoolId"] == ref("UserPool")
    assert client["GenerateSecret"] is False


def test_outputs_name_the_urls(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert "${RestApi}" in outputs["RestApiUrl"]["Value"]["Fn::Sub"]
    assert "${StageName}" in outputs["RestApiUrl"]["Value"]["Fn::Sub"]
    assert "${HttpApi}" in outputs["HttpApiUrl"]["Value"]["Fn::Sub"]
    assert {"UserPoolId", "UserPoolClientId", "Issuer"} <= set(outputs)


def test_samconfig_deploys_the_template() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"]
    deploy = default["deploy"]["parameters"]
    # The functions' roles are generated (no explicit names): CAPABILITY_IAM is enough.
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert deploy["resolve_s3"] is True
