"""A property (hypothesis): no request of one tenant's principal reaches another tenant's
resource, through any entry point: the Lambda handler, ``is_authorized``, ``authorize_token``,
``allowed_actions``, ``allowed_resources``, ``redact`` and the aiohttp middleware over HTTP.

Principals get any groups (admins, HR, payment initiators...), permissions, roles, department,
daily limit and sub (the explicitly granted auditor included); resources are the store's records
of other tenants or records a backend loaded itself with any other tenant (or none), near-miss
tenants ("ACME", "acme ") included, ids that collide with the store's included. Requests come
from the corporate network in business hours with any amount, so no other rule masks the tenant
rule: only tenant isolation stands between the principal and the resource."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer import Authorizer
from authorizer.sdk.middleware import request_record, require
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample_backend import backend_app
from tests.conftest import NOW, ROOT, FakeClock
from tests.helpers import outcome

ENTITIES: list[dict[str, Any]] = json.loads((ROOT / "entities" / "corp.json").read_text())
GROUPS = [e["uid"]["id"] for e in ENTITIES if e["uid"]["type"] == "Corp::UserGroup"]
TENANTS = ["acme", "globex", "initech", "ACME", "acme ", "globex\u200b", ""]
TENANT_RECORDS = [e for e in ENTITIES if "tenant" in e.get("attrs", {})]
OFFICE_IP = "10.20.30.40"
EMPLOYEE_FIELDS = {"employmentInfo": {"grade": 1}, "salary": {"annual": 1}}
ROUTES = {
    "Corp::Employee": ["GET /employees/{employeeId}", "GET /employees/{employeeId}/salary",
                       "GET /employees/{employeeId}/employment-info",
                       "PUT /employees/{employeeId}/status"],
    "Corp::Invoice": ["GET /invoices/{invoiceId}", "PUT /invoices/{invoiceId}"],
    "Corp::Account": ["POST /accounts/{accountId}/transfers"],
}  # fmt: skip
COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def principals(draw: st.DrawFn) -> dict[str, Any]:
    """Claims of a principal: its tenant and anything else."""
    claims: dict[str, Any] = {
        "sub": draw(st.sampled_from(["alice", "hank", "pat", "mallory", "auditor-0001"])
                    | st.text(min_size=1, max_size=12)),
        "cognito:groups": draw(st.lists(st.sampled_from(GROUPS), unique=True)),
        "permissions": draw(st.lists(st.sampled_from(
            ["employee:read", "invoices:view", "invoices:edit", "reports:export"]), unique=True)),
        "roles": draw(st.lists(st.sampled_from(["viewer", "editor", "admin"]), unique=True)),
        "department": draw(st.sampled_from(["finance", "hr", "engineering", "it"])),
        "dailyLimit": draw(st.integers(0, 2**40)),
    }  # fmt: skip
    tenant = draw(st.sampled_from(TENANTS) | st.none())
    if tenant is not None:
        claims["tenant"] = tenant
    return claims


@st.composite
def foreign_resources(draw: st.DrawFn, tenant: str | None) -> dict[str, Any]:
    """A record of another tenant (or of none): the store's, or one the backend loaded."""
    others = [t for t in TENANTS if t != tenant]
    stored = [e for e in TENANT_RECORDS if e["attrs"]["tenant"] != tenant]
    if draw(st.booleans()):
        return dict(draw(st.sampled_from(stored)))
    kind = draw(st.sampled_from(["Corp::Employee", "Corp::Invoice", "Corp::Account"]))
    ident = draw(st.sampled_from(["emp-001", "inv-001", "acc-001", "emp-101"])
                 | st.text(min_size=1, max_size=10))  # fmt: skip
    attrs: dict[str, Any] = {}
    if kind == "Corp::Employee":
        group = {"__entity": {"type": "Corp::UserGroup", "id": draw(st.sampled_from(GROUPS))}}
        attrs = {"division": draw(st.sampled_from(["engineering", "finance"])), "group": group}
        if draw(st.booleans()):
            viewers = ["alice", "hank", "pat", "mallory", "auditor-0001"]
            attrs["employmentInfoViewers"] = [{"__entity": {"type": "Corp::User", "id": v}}
                                              for v in viewers]  # fmt: skip
    if kind == "Corp::Account":
        attrs = {"type": draw(st.sampled_from(["BUSINESS", "PERSONAL"])),
                 "status": draw(st.sampled_from(["ACTIVE", "FROZEN"]))}  # fmt: skip
    if draw(st.booleans()) or not others:
        pass  # no tenant at all: unknown, denied
    else:
        attrs["tenant"] = draw(st.sampled_from(others))
    return {"uid": {"type": kind, "id": ident}, "attrs": attrs, "parents": []}


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], int]:
    claims = draw(principals())
    return claims, draw(foreign_resources(claims.get("tenant"))), draw(st.integers(-5, 2**40))


def mint(issuer: LocalIssuer, claims: dict[str, Any]) -> str:
    extra = {k: v for k, v in claims.items() if k not in ("sub", "cognito:groups")}
    groups = claims["cognito:groups"]
    return issuer.token(claims["sub"], groups=groups, extra=extra, now=NOW)


def context_for(amount: int) -> dict[str, Any]:
    record = request_record("POST", "/x", "/x", {}, {}, OFFICE_IP, NOW)
    return {"amount": amount, "request": record}


def uid(entity: dict[str, Any]) -> dict[str, str]:
    return dict(entity["uid"])


def stored(entity: dict[str, Any]) -> bool:
    return any(e == entity for e in TENANT_RECORDS)


@settings(max_examples=150, **COMMON)  # type: ignore[arg-type]
@given(case=cases())
def test_no_backend_entry_point_crosses_tenants(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock,
    case: tuple[dict[str, Any], dict[str, Any], int],
) -> None:  # fmt: skip
    claims, resource, amount = case
    assert authz.engine.model is not None
    actions = [a.id for a in authz.engine.model.actions]
    token = mint(issuer, claims)
    context = context_for(amount)
    principal = authz.mapping.principal_uid(authz.verify(token).token.claims)
    verified = authz.verify(token).token.claims
    as_given: list[Any] = [resource] + ([uid(resource)] if stored(resource) else [])
    for target in as_given:
        assert authz.allowed_actions(token, target, actions, context) == []
        for action in actions:
            assert not authz.is_authorized(principal, action, target, context,
                                           claims=verified).allowed  # fmt: skip
            assert not authz.allowed_resources(token, action, [target], context)
        # An explicit map guards the fields whatever the resource type; for employees the
        # view_<field> convention does too.
        explicit = {"employmentInfo": "view_employmentInfo", "salary": "view_salary"}
        document = {"id": "x", **EMPLOYEE_FIELDS}
        assert authz.redact(document, token, target, explicit, context) == {"id": "x"}
        if resource["uid"]["type"] == "Corp::Employee":
            assert authz.redact([document], token, [target]) == [{"id": "x"}]
    for action in actions:
        assert not authz.authorize_token(token, action, None, context, resource).allowed
        if stored(resource):
            assert not authz.authorize_token(token, action, uid(resource), context).allowed
    # The Lambda handler: every route about a stored record, from the office, in hours.
    if stored(resource):
        for route in ROUTES[resource["uid"]["type"]]:
            method, template = route.split(" ")
            path = template.split("{")[0] + resource["uid"]["id"] + template.split("}")[1]
            event = apigw.rest_request_event(
                method, path, template, headers={"Authorization": f"Bearer {token}"},
                query={"amount": str(amount)}, source_ip=OFFICE_IP, now_ms=int(NOW * 1000),
            )  # fmt: skip
            assert outcome(authz, event) != "Allow", (route, resource)


def test_the_middleware_never_serves_another_tenant(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Over HTTP: the sample backend's routes (the store's records), a route whose provider
    returns a record the backend loaded itself, and the lists."""
    loaded: dict[str, Any] = {}
    app = backend_app(authz, source_ip=lambda _r: OFFICE_IP)

    async def inline(_request: web.Request) -> web.Response:
        return web.json_response({"served": True})

    for index, action in enumerate(["view_salary", "view_employmentInfo", "get /employees/{employeeId}",
                   "get /invoices/{invoiceId}", "post /accounts/{accountId}/transfers"]):  # fmt: skip
        handler = require(action, resource=lambda _r: loaded.get("entity"))(inline)
        app.router.add_post(f"/inline/{index}", handler)
    with asyncio.Runner() as runner:
        client = runner.run(_start(app))
        try:

            @settings(max_examples=60, **COMMON)  # type: ignore[arg-type]
            @given(case=cases())
            def check(case: tuple[dict[str, Any], dict[str, Any], int]) -> None:
                claims, resource, amount = case
                token = mint(issuer, claims)
                loaded["entity"] = resource
                runner.run(_check_http(client, token, claims, resource, amount))

            check()
        finally:
            runner.run(client.close())


async def _start(app: web.Application) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def _check_http(
    client: TestClient[Any, Any],
    token: str,
    claims: dict[str, Any],
    resource: dict[str, Any],
    amount: int,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for route in [r for r in client.app.router.routes() if r.method == "POST"
                  and r.resource is not None and r.resource.canonical.startswith("/inline/")]:  # fmt: skip
        assert route.resource is not None
        async with client.post(route.resource.canonical, headers=headers) as response:
            assert response.status in (401, 403), (route.resource.canonical, resource)
    if stored(resource):
        for route_text in ROUTES[resource["uid"]["type"]]:
            method, template = route_text.split(" ")
            path = template.split("{")[0] + resource["uid"]["id"] + template.split("}")[1]
            async with client.request(method, path, headers=headers,
                                      json={"amount": amount}) as response:  # fmt: skip
                assert response.status in (401, 403), (route_text, resource)
    for path, key in [("/employees", "employees"), ("/invoices", "invoices")]:
        async with client.get(path, headers=headers) as response:
            if response.status == 200:
                records = (await response.json())[key]
                assert all(r["tenant"] == claims.get("tenant") for r in records), records
