"""`cedar-authz serve`: the local API Gateway, driven over real HTTP on loopback.

The app runs on aiohttp's test server (a real TCP port on 127.0.0.1) and is driven with a real
client; the authorizer inside fetches the JWKS from that same server. Time is a FakeClock.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from authorizer.gateway.response import MalformedAnswer, policy_outcome, resource_matches
from authorizer.tooling.cli import main
from authorizer.tooling.commands.serve import public_base, tour
from authorizer.tooling.local.gateway import (
    GATEWAY,
    GatewayOptions,
    build_event,
    cache_key,
    client_ip,
    failure,
    loopback_base,
    make_app,
    verdict,
)
from authorizer.tooling.local.issuer import LOCAL_CLIENT_ID, LOCAL_ISSUER, LocalIssuer
from authorizer.tooling.local.keys import (
    HOME_VARIABLE,
    JWKS_PATH,
    TOKEN_PATH,
    load_signing_key,
    mint,
)
from authorizer.tooling.local.users import SAMPLE_USERS
from tests.conftest import NOW, ROOT, FakeClock
from tests.test_sample_app import CASES, EVENING_MS, MORNING_MS, OFFICE_IP

Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]
EXPLICIT_DENY = "User is not authorized to access this resource with an explicit deny"
ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/employees/emp-001"
CLI = shutil.which("cedar-authz", path=str(Path(sys.executable).parent)) or "cedar-authz"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory (one RSA key) for the module's servers."""
    return tmp_path_factory.mktemp("cedar-authz-home")


@pytest.fixture(autouse=True)
def _never_the_real_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_VARIABLE, str(home))


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]], home: Path, clock: FakeClock
) -> MakeClient:
    async def make(jwks_url: str | None = None, **options: Any) -> Client:
        app = make_app(
            GatewayOptions(**options), home=home, clock=clock, jwks_url=jwks_url, log=io.StringIO()
        )
        return await aiohttp_client(app)

    return make


async def token_of(client: Client, user: str, kind: str = "access_token") -> str:
    async with client.post(TOKEN_PATH, data={"username": user}) as response:
        assert response.status == 200
        body = await response.json()
    return str(body[kind])


async def call(
    client: Client,
    method: str,
    path: str,
    token: str | None = None,
    **kwargs: Any,
) -> tuple[int, dict[str, Any]]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with client.request(method, path, headers=headers, **kwargs) as response:
        return response.status, await response.json()


def invocations(client: Client) -> int:
    return client.app[GATEWAY].invocations if client.app else -1


# --- the local issuer ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_discovery_names_the_issuer_and_this_servers_endpoints(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    async with client.get("/.well-known/openid-configuration") as response:
        document = await response.json()
    assert document["issuer"] == LOCAL_ISSUER
    assert document["jwks_uri"] == str(client.make_url(JWKS_PATH))
    assert document["token_endpoint"] == str(client.make_url(TOKEN_PATH))


@pytest.mark.asyncio
async def test_jwks_publishes_the_shared_key(make_client: MakeClient, home: Path) -> None:
    client = await make_client()
    async with client.get(JWKS_PATH) as response:
        keys = (await response.json())["keys"]
    assert [k["kid"] for k in keys] == [load_signing_key(home).kid]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and "d" not in keys[0]


@pytest.mark.asyncio
async def test_token_endpoint_issues_cognito_shaped_tokens(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client = await make_client()
    async with client.post(TOKEN_PATH, data={"username": "fiona"}) as response:
        body = await response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    async with client.get(JWKS_PATH) as response:
        jwk = jwt.PyJWK((await response.json())["keys"][0])
    options: Any = {"verify_exp": False, "verify_iat": False}
    access = jwt.decode(body["access_token"], jwk, ["RS256"], issuer=LOCAL_ISSUER, options=options)
    assert access["token_use"] == "access" and access["client_id"] == LOCAL_CLIENT_ID
    assert access["iat"] == int(clock.now) and "aud" not in access
    assert access["department"] == "finance" and access["permissions"] == ["invoices:view"]
    id_claims = jwt.decode(
        body["id_token"], jwk, ["RS256"], issuer=LOCAL_ISSUER, audience=LOCAL_CLIENT_ID,
        options=options,
    )  # fmt: skip
    assert id_claims["token_use"] == "id" and id_claims["cognito:username"] == "fiona"
    assert "cognito:groups" not in access  # fiona is in no group
    hank = jwt.decode(await token_of(client, "hank"), options={"verify_signature": False})
    assert hank["cognito:groups"] == ["hr-engineering"]


@pytest.mark.parametrize(("form", "error"), [({"username": "nobody"}, "invalid_grant"), ({}, "invalid_request")])  # fmt: skip
@pytest.mark.asyncio
async def test_token_endpoint_refuses_unknown_users(
    make_client: MakeClient, form: dict[str, str], error: str
) -> None:
    client = await make_client()
    async with client.post(TOKEN_PATH, data=form) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"] == error
    if error == "invalid_grant":
        assert "alice" in body["error_description"]


# --- the gateway: allow, deny, 401, 404, 500 ---------------------------------------------------


@pytest.mark.asyncio
async def test_allowed_request_reaches_the_backend_with_the_authorizer_context(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    status, body = await call(client, "GET", "/employees/emp-001", await token_of(client, "alice"))
    assert status == 200
    # The backend redacts: alice may view her own group's employmentInfo, not the salary.
    assert body["employee"] == {"id": "emp-001", "tenant": "acme", "division": "engineering",
                                "group": "engineering", "employmentInfo": {
                                    "division": "engineering", "group": "engineering",
                                    "hrGroup": "hr-engineering"}}  # fmt: skip
    authorizer = body["authorizer"]
    assert authorizer["principalId"] == "alice" and authorizer["tenant"] == "acme"
    assert authorizer["determiningPolicies"] == "employees-read"


@pytest.mark.asyncio
async def test_the_backend_lists_only_the_callers_tenant(make_client: MakeClient) -> None:
    client = await make_client()
    status, body = await call(client, "GET", "/employees", await token_of(client, "alice"))
    assert status == 200
    assert [e["id"] for e in body["employees"]] == ["emp-001", "emp-002"]


@pytest.mark.asyncio
async def test_denied_request_gets_api_gateways_explicit_deny(make_client: MakeClient) -> None:
    client = await make_client()
    token = await token_of(client, "alice")
    assert await call(client, "GET", "/employees/emp-001/salary", token) == (
        403,
        {"message": EXPLICIT_DENY},
    )


@pytest.mark.asyncio
async def test_no_token_is_401_without_calling_the_authorizer(make_client: MakeClient) -> None:
    client = await make_client()
    assert await call(client, "GET", "/employees/emp-001") == (401, {"message": "Unauthorized"})
    assert invocations(client) == 0


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-jwt", "Bearer a.b.c", "Basic YWxpY2U6cHc=", "Bearer"]
)
@pytest.mark.asyncio
async def test_malformed_credentials_are_401(make_client: MakeClient, authorization: str) -> None:
    client = await make_client()
    status, body = await call(
        client, "GET", "/employees/emp-001", headers={"Authorization": authorization}
    )
    assert (status, body) == (401, {"message": "Unauthorized"})
    assert invocations(client) == 1


@pytest.mark.asyncio
async def test_two_authorization_headers_are_401(make_client: MakeClient) -> None:
    client = await make_client()
    token = await token_of(client, "alice")
    headers = CIMultiDict([("Authorization", f"Bearer {token}")] * 2)
    async with client.get("/employees/emp-001", headers=headers) as response:
        assert response.status == 401


@pytest.mark.asyncio
async def test_expired_token_is_401(make_client: MakeClient, clock: FakeClock) -> None:
    client = await make_client()
    token = await token_of(client, "alice")
    clock.advance(3600 + 6)  # past `exp` and the 5 s leeway
    assert await call(client, "GET", "/employees/emp-001", token) == (
        401,
        {"message": "Unauthorized"},
    )


@pytest.mark.asyncio
async def test_a_token_of_another_key_is_401(make_client: MakeClient, clock: FakeClock) -> None:
    client = await make_client()
    forged = mint(LocalIssuer(), "adam", now=clock.now)  # right issuer, wrong key
    status, _ = await call(client, "PUT", "/employees/emp-001/status", forged)
    assert status == 401


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("DELETE", "/employees/emp-001"), ("GET", "/oauth2")]
)
@pytest.mark.asyncio
async def test_unknown_route_is_404_without_calling_the_authorizer(
    make_client: MakeClient, method: str, path: str
) -> None:
    client = await make_client()
    token = await token_of(client, "adam")
    assert await call(client, method, path, token) == (404, {"message": "Not Found"})
    assert invocations(client) == 0


@pytest.mark.asyncio
async def test_an_authorizer_failure_is_500_and_not_cached(make_client: MakeClient) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: the JWKS is unreachable
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}{JWKS_PATH}"
    client = await make_client(jwks_url=dead)
    token = await token_of(client, "alice")
    for _ in range(2):
        assert await call(client, "GET", "/employees/emp-001", token) == (500, {"message": None})
    assert invocations(client) == 2


# --- the authorizer cache ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cache_reuses_an_answer_within_the_ttl(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client = await make_client(cache_ttl=300)
    token = await token_of(client, "alice")
    for _ in range(3):
        assert (await call(client, "GET", "/employees/emp-001", token))[0] == 200
    assert invocations(client) == 1
    clock.advance(299)
    assert (await call(client, "GET", "/employees/emp-001", token))[0] == 200
    assert invocations(client) == 1
    clock.advance(2)
    assert (await call(client, "GET", "/employees/emp-001", token))[0] == 200
    assert invocations(client) == 2


@pytest.mark.asyncio
async def test_cache_keeps_denies_too(make_client: MakeClient) -> None:
    client = await make_client()
    token = await token_of(client, "alice")
    for _ in range(2):
        assert (await call(client, "GET", "/employees/emp-001/salary", token))[0] == 403
    assert invocations(client) == 1


@pytest.mark.asyncio
async def test_cache_is_per_request_by_default(make_client: MakeClient) -> None:
    client = await make_client()
    token = await token_of(client, "alice")
    assert (await call(client, "GET", "/employees/emp-001", token))[0] == 200
    assert (await call(client, "GET", "/employees/emp-101", token))[0] == 403  # other tenant
    assert invocations(client) == 2


@pytest.mark.asyncio
async def test_ttl_zero_disables_the_cache(make_client: MakeClient) -> None:
    client = await make_client(cache_ttl=0)
    token = await token_of(client, "alice")
    for _ in range(3):
        assert (await call(client, "GET", "/employees/emp-001", token))[0] == 200
    assert invocations(client) == 3


@pytest.mark.asyncio
async def test_token_keyed_cache_honours_the_policys_method_arns(make_client: MakeClient) -> None:
    """API Gateway's rule: a cached policy that does not cover the requested method ARN is a 403
    (not an explicit deny), and the function is not called again."""
    client = await make_client(cache_key="token")
    token = await token_of(client, "alice")
    assert (await call(client, "GET", "/employees", token))[0] == 200
    status, body = await call(client, "GET", "/employees/emp-001", token)
    assert (status, body) == (403, {"message": "User is not authorized to access this resource"})
    assert invocations(client) == 1


# --- request context: source IP and time ------------------------------------------------------


@pytest.mark.parametrize(
    ("forwarded", "now_ms", "expected"),
    [(OFFICE_IP, MORNING_MS, 200), (None, MORNING_MS, 403), (OFFICE_IP, EVENING_MS, 403)],
    ids=["office-hours", "from-loopback", "after-hours"],
)
@pytest.mark.asyncio
async def test_export_from_the_corporate_network_in_business_hours(
    make_client: MakeClient,
    clock: FakeClock,
    forwarded: str | None,
    now_ms: int,
    expected: int,
) -> None:
    clock.now = now_ms / 1000
    client = await make_client()
    headers = {"X-Forwarded-For": f"{forwarded}, 192.0.2.1"} if forwarded else {}
    status, _ = await call(
        client, "POST", "/reports/export", await token_of(client, "eddie"), headers=headers
    )
    assert status == expected


def test_x_forwarded_for_is_honoured_from_loopback_only() -> None:
    assert client_ip("127.0.0.1", "10.1.2.3, 192.0.2.1") == "10.1.2.3"
    assert client_ip("::1", "10.1.2.3") == "10.1.2.3"
    assert client_ip("192.0.2.7", "10.1.2.3") == "192.0.2.7"
    assert client_ip("127.0.0.1", "not an address") == "127.0.0.1"
    assert client_ip("127.0.0.1", None) == "127.0.0.1"
    assert client_ip(None, None) == "127.0.0.1"


# --- HTTP API mode ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_http_api_mode(make_client: MakeClient) -> None:
    client = await make_client(http_api=True)
    token = await token_of(client, "alice")
    status, body = await call(client, "GET", "/employees/emp-001", token)
    assert status == 200
    # a simple response's context, as an HTTP API hands it to the integration
    assert body["authorizer"]["lambda"]["principal"] == "alice"
    assert await call(client, "GET", "/employees/emp-001/salary", token) == (
        403,
        {"message": "Forbidden"},
    )
    assert await call(client, "GET", "/employees/emp-001") == (401, {"message": "Unauthorized"})
    pat = await token_of(client, "pat")
    transfer = "/accounts/acc-001/transfers"
    assert (await call(client, "POST", transfer, pat, params={"amount": "1200"}))[0] == 200
    assert (await call(client, "POST", transfer, pat, params={"amount": "9000"}))[0] == 403


# --- every scenario of the sample app, through HTTP ------------------------------------------


@pytest.mark.parametrize("http_api", [False, True], ids=["rest", "http-api"])
@pytest.mark.parametrize(
    ("user", "method", "path", "kwargs", "expected"),
    [(c[1], c[2], c[3], c[5], c[6]) for c in CASES],
    ids=[c[0] for c in CASES],
)
@pytest.mark.asyncio
async def test_sample_scenario_through_http(
    make_client: MakeClient,
    clock: FakeClock,
    http_api: bool,
    user: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    clock.now = kwargs.get("now_ms", NOW * 1000) / 1000
    client = await make_client(http_api=http_api)
    headers = {"X-Forwarded-For": kwargs["source_ip"]} if "source_ip" in kwargs else {}
    status, body = await call(
        client,
        method,
        path,
        await token_of(client, user),
        headers=headers,
        params=kwargs.get("query", {}),
    )
    wanted = {"Allow": 200, "Deny": 403}[expected]
    if (method, path) == ("DELETE", "/employees/emp-001"):  # no such route: the gateway says 404
        wanted = 404
    assert status == wanted, body


# --- the tour and the command ------------------------------------------------------------------


def curl_lines(text: str) -> list[tuple[str, dict[str, str]]]:
    """(url, headers) of each curl command of the tour, one line each."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(r"\s*curl -i (\S+)(?: -H '([^:]+): ([^']+)')?", line)
        if match:
            found.append((match[1], {match[2]: match[3]} if match[2] else {}))
    return found


@pytest.mark.asyncio
async def test_the_tour_commands_work(
    make_client: MakeClient, home: Path, clock: FakeClock
) -> None:
    client = await make_client()
    base = str(client.make_url("")).rstrip("/")
    text = tour(base, mint(client.app[GATEWAY].issuer, "alice", now=clock.now), GatewayOptions(),
                home / "signing-key.pem")  # fmt: skip
    commands = curl_lines(text)
    assert len(commands) == 3
    statuses = []
    for url, headers in commands:
        async with client.session.get(url, headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [200, 403, 401]
    assert "cedar-authz token hank" in text


def test_urls_shown_for_wildcard_and_loopback_addresses() -> None:
    assert public_base("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert public_base("::1", 8080) == "http://[::1]:8080"
    assert public_base("192.0.2.5", 80) == "http://192.0.2.5:80"
    assert loopback_base("::1", 9) == "http://[::1]:9"
    assert loopback_base("192.0.2.5", 9) == "http://127.0.0.1:9"


@pytest.mark.asyncio
async def test_serve_command_starts_prints_a_working_tour_and_stops(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "CEDAR_"))}
    env[HOME_VARIABLE] = str(tmp_path)
    process = await asyncio.create_subprocess_exec(
        CLI, "serve", "--port", "0", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Stop with"):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            assert line, "serve exited before printing its tour"
            lines.append(line.decode().rstrip("\n"))
        text = "\n".join(lines)
        assert (tmp_path / "signing-key.pem").stat().st_mode & 0o777 == 0o600
        statuses = []
        async with aiohttp.ClientSession() as session:
            for url, headers in curl_lines(text):
                async with session.get(url, headers=headers) as response:
                    statuses.append(response.status)
        assert statuses == [200, 403, 401]
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=60)
    assert code == 0


@pytest.mark.parametrize("ttl", ["-1", "3601", "soon"])
def test_serve_refuses_a_cache_ttl_api_gateway_would_not_take(ttl: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--cache-ttl", ttl])
    assert exit_info.value.code == 1  # a usage error is a failure: 2 means deny


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_that_is_none(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--port 99999` ended in an OverflowError traceback from bind()."""
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", port])
    assert exit_info.value.code == 1
    assert "not a port" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["validate", "--polices", "x"],
        ["test"],
        ["explain", "--user", "alice", "--method", "GET"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_1_never_the_deny_code(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    assert "usage: cedar-authz" in capsys.readouterr().err


# --- pure parts: events, ARNs, verdicts, cache keys --------------------------------------------


def test_rest_event_keeps_every_header_and_query_value() -> None:
    event = build_event(
        False, "GET", "/employees/emp-001", "/employees/{employeeId}",
        [("Authorization", "Bearer t"), ("X-Tag", "a"), ("X-Tag", "b")],
        [("q", "1"), ("q", "2")], "q=1&q=2", "10.0.0.1", 1_795_000_000_000,
    )  # fmt: skip
    assert event["type"] == "REQUEST" and event["methodArn"] == ARN
    assert event["headers"]["Authorization"] == "Bearer t"
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["pathParameters"] == {"employeeId": "emp-001"}
    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.1"
    assert event["requestContext"]["requestTimeEpoch"] == 1_795_000_000_000


def test_http_api_event_lowercases_and_joins_duplicates() -> None:
    event = build_event(
        True, "POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers",
        [("Authorization", "Bearer t"), ("X-Tag", "a"), ("x-tag", "b")],
        [("amount", "10")], "amount=10", "10.0.0.1", 1_795_000_000_000,
    )  # fmt: skip
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /accounts/{accountId}/transfers"
    assert event["headers"] == {"authorization": "Bearer t", "x-tag": "a,b"}
    assert event["identitySource"] == ["Bearer t"]
    assert event["rawQueryString"] == "amount=10"
    assert event["requestContext"]["http"]["sourceIp"] == "10.0.0.1"


def test_cache_keys() -> None:
    assert cache_key("token", "Bearer t", "GET", "/a", "", "10.0.0.1") == ("Bearer t",)
    request = cache_key("request", "Bearer t", "GET", "/a", "x=1", "10.0.0.1")
    assert request == ("Bearer t", "GET", "/a", "x=1", "10.0.0.1")
    assert request != cache_key("request", "Bearer t", "GET", "/a", "x=2", "10.0.0.1")


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        (ARN, True),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/employees/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*", True),
        ("*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/employees/emp-00?", True),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/employees", False),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/employees/emp-0.1", False),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev/GET/*", False),
    ],
)
def test_arn_matching(pattern: str, matches: bool) -> None:
    assert resource_matches(pattern, ARN) is matches


def statement(effect: str, resource: Any, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


def test_policy_outcome() -> None:
    wildcard = ARN.rsplit("/", 1)[0] + "/*"
    allow, deny = statement("Allow", [wildcard]), statement("Deny", ARN)
    assert policy_outcome({"Statement": [allow]}, ARN) == "allow"
    assert policy_outcome({"Statement": allow}, ARN) == "allow"  # one statement, not a list
    assert policy_outcome({"Statement": [allow, deny]}, ARN) == "deny"  # explicit deny wins
    assert policy_outcome({"Statement": [statement("Allow", "arn:other")]}, ARN) == "implicit-deny"
    assert policy_outcome({"Statement": [statement("Allow", ARN, "s3:*")]}, ARN) == "implicit-deny"
    assert policy_outcome({"Statement": [statement("Allow", ARN, "execute-api:*")]}, ARN) == "allow"


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"principalId": "p"},
        {"principalId": "p", "policyDocument": {"Statement": []}},
        {"principalId": "p", "policyDocument": {"Statement": [{"Effect": "Maybe"}]}},
        {"principalId": "p", "policyDocument": {"Statement": [statement("Allow", 7)]}},
        {"policyDocument": {"Statement": [statement("Allow", ARN)]}},
        {"principalId": "p", "policyDocument": {"Statement": [statement("Allow", ARN)]},
         "context": {"groups": ["a"]}},
    ],
)  # fmt: skip
def test_malformed_answers_are_errors(answer: Any) -> None:
    with pytest.raises(MalformedAnswer):
        verdict(answer, ARN, http_api=False)


def test_verdicts_carry_the_context_as_api_gateway_hands_it_on() -> None:
    answer = {"principalId": "alice", "context": {"tenant": "acme"},
              "policyDocument": {"Statement": [statement("Allow", ARN)]}}  # fmt: skip
    rest = verdict(answer, ARN, http_api=False)
    assert (rest.outcome, rest.authorizer) == ("allow", {"principalId": "alice", "tenant": "acme"})
    simple = verdict({"isAuthorized": False, "context": {"a": 1}}, ARN, http_api=True)
    assert (simple.outcome, simple.authorizer) == ("deny", {"lambda": {"a": 1}})
    with pytest.raises(MalformedAnswer):
        verdict({"isAuthorized": "yes"}, ARN, http_api=True)


def test_failures_use_api_gateways_texts() -> None:
    assert failure("deny", http_api=False) == (403, {"message": EXPLICIT_DENY})
    assert failure("deny", http_api=True) == (403, {"message": "Forbidden"})
    assert failure("error", http_api=False) == (500, {"message": None})
    assert failure("error", http_api=True) == (500, {"message": "Internal Server Error"})
    assert failure("not-found", http_api=False) == (404, {"message": "Not Found"})


def test_every_sample_user_is_in_the_tour() -> None:
    text = tour("http://127.0.0.1:1", "t", GatewayOptions(http_api=True, cache_ttl=0), Path("k"))
    assert all(user in text for user in SAMPLE_USERS)
    assert "HTTP API" in text and "no cache" in text


def test_a_command_needing_boto3_without_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Installed without the `aws` extra, `revoke` ended in a ModuleNotFoundError traceback."""
    from authorizer.stores import dynamo_store  # noqa: PLC0415

    def no_boto3(*_args: object, **_kwargs: object) -> object:
        raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    monkeypatch.setattr(dynamo_store, "dynamodb_client", no_boto3)
    assert main(["revoke", "--jti", "j1", "--table", "t"]) == 1
    assert "pip install 'cedar-authz[aws]'" in capsys.readouterr().err
