"""The aiohttp middleware and decorators (authorizer/sdk/middleware.py), over real HTTP on loopback:
every scenario of the sample app through the sample backend as an aiohttp application, the
answers 401/403/404/500, trust of the gateway's context, ``require_permission``, redaction, and
the sample backend behind the local gateway re-checking at the data layer."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from authorizer import Authorizer
from authorizer.cedar.coerce import ip_value
from authorizer.errors import InvalidRequest, InvalidToken
from authorizer.sdk.middleware import (
    DECISION,
    GATEWAY_CONTEXT,
    IDENTITY,
    RESOURCE,
    Guard,
    bearer,
    cedar_middleware,
    forwarded_context,
    redact_for,
    request_record,
    require,
    require_permission,
)
from authorizer.tooling.local.gateway import GatewayOptions, make_app
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.keys import HOME_VARIABLE, TOKEN_PATH
from authorizer.tooling.local.sample_backend import BackendRequest, SampleBackend, backend_app
from tests.conftest import NOW, ROOT, FakeClock, JwksServer, sample_env
from tests.helpers import user_token
from tests.test_backend_api import BY_ID
from tests.test_sample_app import CASES

Client = TestClient[Any, Any]
AiohttpClient = Callable[..., Awaitable[Client]]
EMP = "/employees/emp-001"


def forwarded_for(request: web.Request) -> str | None:
    """Tests pose as the corporate network: X-Forwarded-For, as the local gateway allows."""
    return request.headers.get("X-Forwarded-For") or request.remote


async def call(
    client: Client, method: str, path: str, token: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with client.request(method, path, headers=headers, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else {}
        return response.status, body


@pytest_asyncio.fixture
async def sample(aiohttp_client: AiohttpClient, authz: Authorizer) -> Client:
    return await aiohttp_client(backend_app(authz, source_ip=forwarded_for))


# --- every scenario ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "user", "method", "path", "kwargs", "expected"),
    [(c[0], c[1], c[2], c[3], c[5], c[6]) for c in CASES],
    ids=[c[0] for c in CASES],
)
@pytest.mark.asyncio
async def test_scenario_through_the_middleware(
    sample: Client,
    issuer: LocalIssuer,
    clock: FakeClock,
    case: str,
    user: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    clock.now = kwargs.get("now_ms", NOW * 1000) / 1000
    headers = {"X-Forwarded-For": kwargs["source_ip"]} if "source_ip" in kwargs else {}
    token = user_token(issuer, user, clock.now)
    status, body = await call(sample, method, path, token, headers=headers,
                              params=kwargs.get("query", {}))  # fmt: skip
    wanted = {"Allow": 200, "Deny": 403}[expected]
    if case == "read-unknown-employee":
        wanted = 404  # the provider finds no record: nothing to decide about
    if case == "unknown-route":
        wanted = 405  # aiohttp: no DELETE on that path
    assert status == wanted, body


@pytest.mark.asyncio
async def test_transfers_are_checked_with_the_amount_of_the_body(
    sample: Client, issuer: LocalIssuer, clock: FakeClock
) -> None:
    pat = user_token(issuer, "pat", clock.now)
    url = "/accounts/acc-001/transfers"
    status, body = await call(sample, "POST", url, pat, json={"amount": 1200})
    assert (status, body["transfer"]["amount"]) == (200, 1200)
    assert (await call(sample, "POST", url, pat, json={"amount": 9000}))[0] == 403
    # Not a Long: refused as a bad request, never decided as if no amount were sent.
    assert (await call(sample, "POST", url, pat, json={"amount": "12e3"}))[0] == 400
    assert (await call(sample, "POST", url, pat, json={}))[0] == 403
    # The body wins over the query: the amount checked is the amount transferred.
    assert (await call(sample, "POST", url, pat, params={"amount": "10"},
                       json={"amount": 999_999}))[0] == 403  # fmt: skip


@pytest.mark.parametrize(
    ("user", "path", "fields"),
    [
        ("hank", EMP, {"employmentInfo", "salary"}),
        ("paula", EMP, {"employmentInfo", "salary"}),
        ("alice", EMP, {"employmentInfo"}),
        ("harriet", "/employees/emp-002", {"employmentInfo", "salary"}),
    ],
)
@pytest.mark.asyncio
async def test_employee_records_are_redacted(
    sample: Client, issuer: LocalIssuer, clock: FakeClock, user: str, path: str, fields: set[str]
) -> None:
    token = user_token(issuer, user, clock.now, scope="openid employee:read",
                       extra={"permissions": ["employee:read"]})  # fmt: skip
    status, body = await call(sample, "GET", path, token)
    assert status == 200, body
    assert set(body["employee"]) == {"id", "tenant", "division", "group"} | fields


@pytest.mark.asyncio
async def test_lists_hold_only_readable_records_each_redacted(
    sample: Client, issuer: LocalIssuer, clock: FakeClock
) -> None:
    status, body = await call(sample, "GET", "/employees", user_token(issuer, "alice", clock.now))
    assert status == 200
    assert [(e["id"], "employmentInfo" in e, "salary" in e) for e in body["employees"]] == [
        ("emp-001", True, False),  # her own group
        ("emp-002", False, False),  # finance
    ]
    status, body = await call(sample, "GET", "/employees", user_token(issuer, "mallory", clock.now))
    assert [e["id"] for e in body["employees"]] == ["emp-101"]


# --- 401, 403, 404, 500 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6cHc="},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        # Without trust_gateway the gateway's context is not believed, forged or not.
        {"X-Authorizer-Principal-Id": "alice", "X-Authorizer-Sub": "alice"},
    ],
)
@pytest.mark.asyncio
async def test_no_valid_credentials_is_401(sample: Client, headers: dict[str, str]) -> None:
    async with sample.get(EMP, headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert await response.json() == {"message": "Unauthorized"}


@pytest.mark.asyncio
async def test_expired_foreign_and_doubled_tokens_are_401(
    sample: Client, issuer: LocalIssuer, clock: FakeClock
) -> None:
    expired = user_token(issuer, "alice", clock.now - 7200)
    assert (await call(sample, "GET", EMP, expired))[0] == 401
    stranger = LocalIssuer(issuer="https://evil.example.com", client_id="testclient",
                           keys=issuer.keys)  # fmt: skip
    assert (await call(sample, "GET", EMP, stranger.token("alice", now=clock.now)))[0] == 401
    token = user_token(issuer, "alice", clock.now)
    doubled = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    async with sample.get(EMP, headers=doubled) as response:
        assert response.status == 401


@pytest.mark.asyncio
async def test_an_unreachable_key_set_is_500_not_a_decision(
    aiohttp_client: AiohttpClient, authz: Authorizer, issuer: LocalIssuer, jwks_server: JwksServer,
    clock: FakeClock,
) -> None:  # fmt: skip
    jwks_server.fail = True
    client = await aiohttp_client(backend_app(authz))
    status, body = await call(client, "GET", EMP, user_token(issuer, "alice", clock.now))
    assert (status, body) == (500, {"message": "Internal Server Error"})


def guarded_app(authz: Authorizer | None, handler: Any, **guard: Any) -> web.Application:
    middlewares = [cedar_middleware(Guard(authz, **guard))] if authz else []
    app = web.Application(middlewares=middlewares)
    app.router.add_get("/thing/{employeeId}", handler)
    return app


@pytest.mark.asyncio
async def test_fail_closed_inside_the_check(
    aiohttp_client: AiohttpClient, authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    def broken(_request: web.Request) -> Any:
        raise RuntimeError("database down")

    def refuses(_request: web.Request) -> Any:
        raise web.HTTPBadRequest(text="bad id")

    async def from_database(request: web.Request) -> Any:
        return BY_ID.get(request.match_info["employeeId"])

    token = user_token(issuer, "hank", clock.now)
    cases: list[tuple[Any, Authorizer | None, str, int]] = [
        # A provider that raises is a failure (500, errors.status_of), not a Deny.
        (require("view_salary", resource=broken), authz, "emp-001", 500),
        (require("view_salary", resource=from_database, context=broken), authz, "emp-001", 500),
        (require("view_salary", resource=from_database), authz, "emp-404", 404),
        # A provider's own refusal is the provider's answer, and the handler never runs.
        (require("view_salary", resource=refuses), authz, "emp-001", 400),
        (require("view_salary", resource=from_database), authz, "emp-001", 200),
        (require("view_salary", resource=lambda r: 'Corp::Employee::"emp-001"'), authz, "x", 200),
        # Never Cedar syntax: a provider's junk uid is refused as the provider's failure (500).
        (require("view_salary", resource=lambda r: 'Corp::Employee::"x" || true'), authz, "x", 500),
        (require("view_salary", resource=from_database), authz, "emp-101", 403),
        (require("view_salary", resource=from_database), None, "emp-001", 403),  # no middleware
    ]
    for decorator, with_middleware, ident, status in cases:
        client = await aiohttp_client(guarded_app(with_middleware, decorator(ok)))
        assert (await call(client, "GET", f"/thing/{ident}", token))[0] == status, ident


@pytest.mark.asyncio
async def test_errors_answer_by_status_of_in_both_steps(
    aiohttp_client: AiohttpClient, authz: Authorizer, issuer: LocalIssuer, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A bug while identifying the caller is a 500 logged with its traceback (it was a 401,
    blaming the caller); an ``Unauthorized`` raised inside the check is still a 401."""

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    def refuses(_request: web.Request) -> Any:
        raise InvalidToken("revoked", "the provider found the token revoked")

    token = user_token(issuer, "hank", clock.now)
    client = await aiohttp_client(guarded_app(authz, require("view_salary", resource=refuses)(ok)))
    assert (await call(client, "GET", "/thing/emp-001", token))[0] == 401

    def bug(_token: str) -> Any:
        raise RuntimeError("a bug in verification")

    monkeypatch.setattr(authz, "verify", bug)
    assert (await call(client, "GET", "/thing/emp-001", token)) == (
        500, {"message": "Internal Server Error"})  # fmt: skip
    logged = [r for r in caplog.records if r.exc_info and "identifying the caller" in r.message]
    assert logged and isinstance(logged[0].exc_info[1], RuntimeError)  # type: ignore[index]


@pytest.mark.asyncio
async def test_the_handler_sees_the_caller_resource_and_decision(
    aiohttp_client: AiohttpClient, authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    @require("get /employees/{employeeId}",
             resource=lambda r: BY_ID.get(r.match_info["employeeId"]))  # fmt: skip
    async def handler(request: web.Request) -> web.Response:
        document = {"id": "emp-001", "salary": 1, "employmentInfo": {"a": 1}}
        return web.json_response({
            "principal": request[IDENTITY].principal,
            "resource": request[RESOURCE] == BY_ID["emp-001"],
            "policies": list(request[DECISION].determining),
            "document": redact_for(request, document),
        })  # fmt: skip

    executor = ThreadPoolExecutor(max_workers=1)
    try:
        client = await aiohttp_client(guarded_app(authz, handler, executor=executor))
        status, body = await call(client, "GET", "/thing/emp-001",
                                  user_token(issuer, "alice", clock.now))  # fmt: skip
    finally:
        executor.shutdown()
    assert status == 200
    assert body == {"principal": {"type": "Corp::User", "id": "alice"}, "resource": True,
                    "policies": ["employees-read"],
                    "document": {"id": "emp-001", "employmentInfo": {"a": 1}}}  # fmt: skip


# --- trusting the gateway -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_trusted_gateway_context_needs_no_key_set(
    aiohttp_client: AiohttpClient, authz: Authorizer, issuer: LocalIssuer, jwks_server: JwksServer,
    clock: FakeClock,
) -> None:  # fmt: skip
    """Behind the gateway the token was verified there: the backend decodes it, binds it to the
    gateway's principal and checks only its expiry (the key set is unreachable here)."""
    jwks_server.fail = True
    client = await aiohttp_client(backend_app(authz, trust_gateway=True))
    hank = user_token(issuer, "hank", clock.now)
    says = {"X-Authorizer-Principal-Id": "hank"}
    status, body = await call(client, "GET", EMP, hank, headers=says)
    assert status == 200 and "salary" in body["employee"]
    # The token must be the gateway's principal's, and unexpired.
    assert (await call(client, "GET", EMP, hank, headers={"X-Authorizer-Principal-Id": "paula"}))[
        0
    ] == 401
    expired = user_token(issuer, "hank", clock.now - 7200)
    assert (await call(client, "GET", EMP, expired, headers=says))[0] == 401
    # An exp no float holds is the token's fault (401), not an OverflowError (500).
    for exp in (10**400, -(10**400), "9999999999"):
        odd = user_token(issuer, "hank", clock.now, extra={"exp": exp})
        assert (await call(client, "GET", EMP, odd, headers=says))[0] == 401
    # Without a token the context does not say the caller's groups and claims: rebuilt from
    # it, a forbid on a group would not hold, and headers a client adds (`X-Authorizer-Groups`)
    # passed for claims. Refused.
    context_only = {"X-Authorizer-Principal-Id": "hank", "X-Authorizer-Sub": "hank",
                    "X-Authorizer-Tenant": "acme", "X-Authorizer-Cognito:groups": "hr"}  # fmt: skip
    assert (await call(client, "GET", EMP, headers=context_only))[0] == 401
    assert (await call(client, "GET", EMP, headers={"X-Authorizer-Sub": "hank"}))[0] == 401
    # No gateway context at all: the token is verified (and the key set is down: 500).
    assert (await call(client, "GET", EMP, hank))[0] == 500


@pytest.mark.asyncio
async def test_gateway_context_from_an_in_process_adapter(
    aiohttp_client: AiohttpClient, authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    @web.middleware
    async def lambda_adapter(request: web.Request, handler: Any) -> web.StreamResponse:
        request[GATEWAY_CONTEXT] = {"lambda": {"principal": "hank", "tenant": "acme"}}
        return await handler(request)  # type: ignore[no-any-return]

    @require("view_salary", resource=lambda r: BY_ID["emp-001"])
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(request[IDENTITY].principal)

    app = web.Application(middlewares=[lambda_adapter, cedar_middleware(
        Guard(authz, trust_gateway=True))])  # fmt: skip
    app.router.add_get("/salary", handler)
    client = await aiohttp_client(app)
    status, body = await call(client, "GET", "/salary", user_token(issuer, "hank", clock.now))
    assert (status, body) == (200, {"type": "Corp::User", "id": "hank"})


def test_pure_helpers() -> None:
    assert bearer("bearer abc") == "abc"
    # A bare token, as the gateway accepts it (events.credential): the backend agrees.
    assert bearer("abc.def.ghi") == "abc.def.ghi"
    refusals = {None: "missing_token", "": "missing_token", "Bearer a b": "wrong_scheme",
                "Token abc": "wrong_scheme", "Bearer " + "a" * 9000: "oversized_token",
                "Bearer a,Bearer b": "multiple_tokens"}  # fmt: skip
    for bad, reason in refusals.items():
        with pytest.raises(InvalidRequest) as caught:
            bearer(bad)
        assert caught.value.reason == reason
    # A dual-stack listener reports an IPv4 client as `::ffff:a.b.c.d`: read as the gateway
    # reads it, so a forbid on an IPv4 range holds (it did not); a zone id is no address.
    ips = {"::ffff:127.0.0.1": "127.0.0.1", "10.1.2.3": "10.1.2.3", "fe80::1%eth0": None,
           "not-an-ip": None, "2001:db8::1": "2001:db8::1"}  # fmt: skip
    for raw, expected in ips.items():
        record = request_record("GET", "/", "/", {}, {}, raw, 0.0)
        assert record.get("sourceIp") == (ip_value(expected) if expected else None), raw


@pytest.mark.asyncio
async def test_forwarded_headers_become_context_keys(aiohttp_client: AiohttpClient) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(forwarded_context(request))

    app = web.Application()
    app.router.add_get("/", echo)
    client = await aiohttp_client(app)
    headers = {"X-Authorizer-Principal-Id": "a", "x-authorizer-policy-version": "v1", "X": "y"}
    async with client.get("/", headers=headers) as response:
        assert await response.json() == {"principalId": "a", "policyVersion": "v1"}


# --- require_permission -----------------------------------------------------------------------

FILES_SCHEMA = """namespace Files {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup] = { "tenant"?: String, "permissions"?: Set<String> };
  entity Folder = { "tenant": String };
  action "files:upload", "files:read" appliesTo { principal: User, resource: [Application, Folder] };
}
"""
FILES_POLICIES = """@id("permission-is-action")
permit (principal, action in [Files::Action::"files:upload", Files::Action::"files:read"], resource)
when { principal has permissions && principal.permissions.contains(action.id) };
"""


@pytest.fixture
def files_authz(tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer,
                clock: FakeClock) -> Authorizer:  # fmt: skip
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "files.cedar").write_text(FILES_POLICIES.replace(
        "action.id", '"files:upload"'))  # fmt: skip
    (tmp_path / "files.cedarschema").write_text(FILES_SCHEMA)
    env = sample_env(issuer, jwks_server.url, CEDAR_POLICY_DIR=str(tmp_path / "policies"),
                     CEDAR_SCHEMA=str(tmp_path / "files.cedarschema"), CEDAR_ENTITIES="none")  # fmt: skip
    return Authorizer.from_env(env, clock=clock)


@pytest.mark.asyncio
async def test_require_permission(
    aiohttp_client: AiohttpClient, files_authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[cedar_middleware(Guard(files_authz))])
    app.router.add_post("/upload", require_permission("files:upload")(ok))
    app.router.add_get("/read", require_permission("files:read")(ok))
    app.router.add_get("/odd", require_permission('files:upload" || true')(ok))
    client = await aiohttp_client(app)
    uploader = issuer.token("u1", now=clock.now, extra={"permissions": ["files:upload"]})
    reader = issuer.token("u2", now=clock.now, extra={"permissions": ["files:read"]})
    assert (await call(client, "POST", "/upload", uploader))[0] == 200
    assert (await call(client, "POST", "/upload", reader))[0] == 403
    assert (await call(client, "GET", "/read", reader))[0] == 403  # the policy reads upload only
    assert (await call(client, "GET", "/odd", uploader))[0] == 403  # an id, never syntax
    assert (await call(client, "POST", "/upload"))[0] == 401


# --- the sample backend behind the local gateway ------------------------------------------------


@pytest.fixture
def gateway_client(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[], Awaitable[Client]]:  # fmt: skip
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path))

    async def make() -> Client:
        app = make_app(GatewayOptions(), home=tmp_path, clock=clock, log=io.StringIO())
        return await aiohttp_client(app)

    return make


async def gateway_token(client: Client, user: str) -> str:
    async with client.post(TOKEN_PATH, data={"username": user}) as response:
        return str((await response.json())["access_token"])


@pytest.mark.asyncio
async def test_the_gateways_backend_checks_again_with_the_body(
    gateway_client: Callable[[], Awaitable[Client]],
) -> None:
    client = await gateway_client()
    pat = await gateway_token(client, "pat")
    url = "/accounts/acc-001/transfers"
    status, body = await call(client, "POST", url, pat, params={"amount": "10"})
    assert status == 200 and body["transfer"]["amount"] == "10"
    status, body = await call(client, "POST", url, pat, params={"amount": "10"},
                              json={"amount": 1200})  # fmt: skip
    assert status == 200 and body["transfer"]["amount"] == 1200
    # The gateway saw 10 in the query and allowed; the backend would transfer the body's amount.
    status, body = await call(client, "POST", url, pat, params={"amount": "10"},
                              json={"amount": 999_999})  # fmt: skip
    assert status == 403 and body["message"] == "Forbidden"


@pytest.mark.asyncio
async def test_the_gateways_backend_redacts(
    gateway_client: Callable[[], Awaitable[Client]],
) -> None:
    client = await gateway_client()
    hank, alice = await gateway_token(client, "hank"), await gateway_token(client, "alice")
    assert set((await call(client, "GET", EMP, hank))[1]["employee"]) >= {"salary",
                                                                          "employmentInfo"}  # fmt: skip
    employee = (await call(client, "GET", EMP, alice))[1]["employee"]
    assert "employmentInfo" in employee and "salary" not in employee
    listed = (await call(client, "GET", "/employees", hank))[1]["employees"]
    assert [(e["id"], "salary" in e) for e in listed] == [("emp-001", True), ("emp-002", False)]


def test_the_in_process_backend_binds_the_token_to_the_gateways_principal(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A token of another principal than the one the gateway answered for is refused (401);
    without an authorizer to check with, the backend refuses everything (403)."""
    backend = SampleBackend.load(ROOT / "entities" / "corp.json", authz)
    forged = issuer.sign(issuer.claims("hank", groups=["hr-engineering"], now=clock.now,
                                       extra={"tenant": "acme"}), key=SigningKey.rsa("x"))  # fmt: skip
    request = BackendRequest("GET", "/employees/{employeeId}", {"employeeId": "emp-001"},
                             authorizer={"principalId": "alice"},
                             authorization=f"Bearer {forged}")  # fmt: skip
    assert backend.handle(request)[0] == 401
    assert SampleBackend.load(ROOT / "entities" / "corp.json").handle(request)[0] == 403


@pytest.mark.asyncio
async def test_the_middleware_follows_a_policy_bundle(
    aiohttp_client: AiohttpClient, tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer,
    clock: FakeClock,
) -> None:  # fmt: skip
    """A guarded handler is decided by the bundle's current version, as the gateway is."""
    from tests.test_live_bundles import doc_policy, shop_bundle, shop_env  # noqa: PLC0415

    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    backend = Authorizer.from_env(shop_env(issuer, jwks_server, str(path)), clock=clock)

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    handler = require("get /docs/{docId}",
                      resource=lambda r: f'Shop::Doc::"{r.match_info["employeeId"]}"')(ok)  # fmt: skip
    client = await aiohttp_client(guarded_app(backend, handler))
    token = issuer.token("u1", now=clock.now)
    statuses = [(await call(client, "GET", f"/thing/{doc}", token))[0]
                for doc in ("acme-doc", "globex-doc")]  # fmt: skip
    assert statuses == [200, 403]
    path.write_bytes(shop_bundle(doc_policy("globex")))
    clock.advance(30)
    statuses = [(await call(client, "GET", f"/thing/{doc}", token))[0]
                for doc in ("acme-doc", "globex-doc")]  # fmt: skip
    assert statuses == [403, 200]


@pytest.mark.asyncio
async def test_the_middleware_follows_each_tenants_bundle(
    aiohttp_client: AiohttpClient, tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer,
    clock: FakeClock,
) -> None:  # fmt: skip
    """Per tenant: the caller's token picks the bundle, for identification and the check."""
    from tests.test_live_bundles import doc_policy, shop_bundle, shop_env  # noqa: PLC0415

    for tenant in ("acme", "globex"):
        (tmp_path / f"{tenant}.json").write_bytes(shop_bundle(doc_policy(tenant)))
    env = {**shop_env(issuer, jwks_server, str(tmp_path / "{tenant}.json")),
           "CEDAR_TENANT_CLAIM": "tenant"}  # fmt: skip
    backend = Authorizer.from_env(env, clock=clock)

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    handler = require("get /docs/{docId}",
                      resource=lambda r: f'Shop::Doc::"{r.match_info["employeeId"]}"')(ok)  # fmt: skip
    client = await aiohttp_client(guarded_app(backend, handler))
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        token = issuer.token("u1", extra={"tenant": tenant}, now=clock.now)
        assert (await call(client, "GET", f"/thing/{tenant}-doc", token))[0] == 200
        assert (await call(client, "GET", f"/thing/{other}-doc", token))[0] == 403
    unsafe = issuer.token("u1", extra={"tenant": "../acme"}, now=clock.now)
    assert (await call(client, "GET", "/thing/acme-doc", unsafe))[0] == 401


async def ok(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def files_app(
    issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock, policies: Path
) -> web.Application:
    """An application guarded by the middleware, its policies (namespace ``Files``, no schema,
    no entities) in the folder ``policies``; its routes are the test's."""
    env = sample_env(issuer, jwks_server.url, CEDAR_POLICY_DIR=str(policies), CEDAR_SCHEMA="none",
                     CEDAR_NAMESPACE="Files", CEDAR_ENTITIES="none")  # fmt: skip
    return web.Application(
        middlewares=[cedar_middleware(Guard(Authorizer.from_env(env, clock=clock)))]
    )


@pytest.mark.asyncio
async def test_a_query_parameter_given_twice_is_refused_where_a_policy_may_read_the_query(
    aiohttp_client: AiohttpClient, tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer,
    clock: FakeClock,
) -> None:  # fmt: skip
    """The middleware decided on the first of two values (`tag=a&tag=x`: allowed past the
    forbid on x) where the gateway refuses the request: 400 now, where the query is read."""
    (tmp_path / "p.cedar").write_text(
        'permit (principal, action in [Files::Action::"list", Files::Action::"count"], resource);\n'
        'forbid (principal, action == Files::Action::"list", resource)\n'
        '  when { context.request.query has tag && context.request.query.tag == "x" };'
    )
    app = files_app(issuer, jwks_server, clock, tmp_path)
    app.router.add_get("/list", require("list")(ok))
    app.router.add_get("/count", require("count")(ok))
    client = await aiohttp_client(app)
    token = issuer.token("u1", now=clock.now)
    for path, query, status in (("/list", "tag=a", 200), ("/list", "tag=x", 403),
                                ("/list", "tag=a&tag=x", 400), ("/count", "tag=a&tag=x", 200)):  # fmt: skip
        assert (await call(client, "GET", f"{path}?{query}", token))[0] == status, (path, query)


@pytest.mark.asyncio
async def test_the_path_policies_read_is_the_gateways_canonical_one(
    aiohttp_client: AiohttpClient, tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer,
    clock: FakeClock,
) -> None:  # fmt: skip
    """`/files//internal` reached a catch-all route and was decided on that very text, past a
    forbid on `/files/internal*` that the gateway holds (it reads paths without empty segments)."""
    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Files::Action::"read", resource);\n'
        'forbid (principal, action, resource) when { context.request.path like "/files/internal*" };'
    )
    app = files_app(issuer, jwks_server, clock, tmp_path)
    app.router.add_get("/{tail:.*}", require("read")(ok))
    client = await aiohttp_client(app)
    token = issuer.token("u1", now=clock.now)
    for path, status in (
        ("/files/public", 200),
        ("/files/internal", 403),
        ("/files//internal", 403),
        ("/files/internal/", 403),
        ("/files/x/%2e%2e/internal", 403),
    ):  # (yarl resolves `..` first)
        assert (await call(client, "GET", path, token))[0] == status, path
