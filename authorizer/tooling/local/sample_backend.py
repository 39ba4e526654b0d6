"""The sample application's backend behind the local gateway: JSON answers for each route, read
from the sample entity store (entities/corp.json). It runs only after the authorizer allowed the
request, and sees the authorizer's answer as API Gateway's ``requestContext.authorizer``:
``{"principalId": ..., <context>}`` for a REST API, ``{"lambda": <context>}`` for an HTTP API.

It does what a real backend should (``authorizer.sdk.api``): it re-checks every request at the
data layer with the record it actually loaded and the values it will actually use (the amount of
a transfer comes from the body), filters lists to the records the caller may read, and removes
the fields of an employee record the caller may not view (``view_employmentInfo``,
``view_salary``). In process it trusts the gateway's context (nothing else can call it); as an
aiohttp application (``backend_app``) the same routes are guarded by ``authorizer.sdk.middleware``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from authorizer.errors import UNAUTHORIZED, status_of
from authorizer.sdk import api
from authorizer.sdk.api import Subject
from authorizer.sdk.client import Authorizer
from authorizer.sdk.middleware import (
    RESOURCE,
    AddressReader,
    Guard,
    caller,
    cedar_middleware,
    first_values,
    identify,
    peer_address,
    request_record,
    require,
)
from authorizer.tooling.local.sample import ROOT

logger = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]
Entity = dict[str, Any]
# Salaries are not in the entity store (nothing decides on them); the sample backend has these.
SAMPLE_SALARIES = {"emp-001": 98_000, "emp-002": 87_000, "emp-101": 91_000}


@dataclass(frozen=True)
class BackendRequest:
    method: str
    route: str  # the route template, e.g. /employees/{employeeId}
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)
    authorizer: Mapping[str, Any] = field(default_factory=dict)
    authorization: str | None = None  # the Authorization header API Gateway forwards
    path: str = ""
    source_ip: str | None = None
    time: float = 0.0  # when the request arrived (epoch seconds)

    @property
    def context(self) -> Mapping[str, Any]:
        """The authorizer's context, whichever API flavour delivered it."""
        nested = self.authorizer.get("lambda")
        return nested if isinstance(nested, Mapping) else self.authorizer


@dataclass(frozen=True)
class Call:
    """An allowed request: who asked and the entity its route is about (None: the app)."""

    request: BackendRequest
    who: Subject
    entity: Entity | None


@dataclass(frozen=True)
class SampleRoute:
    method: str
    template: str
    kind: str | None  # the entity type the last path parameter names; None: the Application
    answer: Callable[[SampleBackend, Call], Answer]
    reads_amount: bool = False  # context.amount from the body (transfers)

    @property
    def action(self) -> str:
        return f"{self.method.lower()} {self.template}"


def transfer_amount(body: Mapping[str, Any], query: Mapping[str, str]) -> Any:
    """The amount the backend will transfer: the body's; the query's (the one the gateway
    checked) only when the body has none."""
    return body["amount"] if "amount" in body else query.get("amount")


class SampleBackend:
    def __init__(self, entities: list[Entity], authorizer: Authorizer | None = None) -> None:
        self.authorizer = authorizer  # the gateway sets it at cold start
        self._entities: dict[str, dict[str, Entity]] = {}
        for entity in entities:
            kind = entity["uid"]["type"].rsplit("::", 1)[-1]
            self._entities.setdefault(kind, {})[entity["uid"]["id"]] = entity

    @classmethod
    def load(cls, path: Path, authorizer: Authorizer | None = None) -> SampleBackend:
        entities: list[Entity] = json.loads(path.read_text(encoding="utf-8"))
        return cls(entities, authorizer)

    def entity(self, kind: str, ident: str) -> Entity | None:
        return self._entities.get(kind, {}).get(ident)

    def handle(self, request: BackendRequest) -> Answer:
        """The request as the gateway forwards it: check again, then answer."""
        route = ROUTES.get((request.method, request.route))
        if route is None:  # a route the policies declare but this sample does not implement
            body = {"route": request.route, "pathParameters": request.path_parameters}
            return 200, {**body, "authorizer": dict(request.authorizer)}
        status, body = self._checked(route, request)
        return status, {**body, "authorizer": dict(request.authorizer)}

    def _checked(self, route: SampleRoute, request: BackendRequest) -> Answer:
        authz = self.authorizer
        if authz is None:
            return 403, {"message": "Forbidden"}  # fail closed: nothing to check with
        try:
            who = identify(authz, request.authorization, request.authorizer, trust_gateway=True)
        except Exception as error:  # errors.status_of: 401 for the caller, 500 for the rest
            status = status_of(error)
            if status != UNAUTHORIZED:
                logger.exception("cannot identify the caller")
            return status, {"message": "Unauthorized" if status == UNAUTHORIZED else
                            "Internal Server Error"}  # fmt: skip
        entity = None
        if route.kind is not None:
            entity = self.entity(route.kind, next(iter(request.path_parameters.values()), ""))
            if entity is None:
                return _not_found(route.kind, request)
        extra = _amount(request.body, request.query) if route.reads_amount else {}
        record = request_record(request.method, request.path or request.route, request.route,
                                request.path_parameters, request.query, request.source_ip,
                                request.time or authz.clock())  # fmt: skip
        target = api.parse_resource(entity or authz.mapping.application)
        action = api.parse_action(route.action, authz.mapping.action_type)
        if not api.decide(authz, who, [(action, target)], extra, record)[0].allowed:
            return 403, {"message": "Forbidden"}
        return route.answer(self, Call(request, who, entity))

    # --- answers -------------------------------------------------------------------------------

    def _authz(self) -> Authorizer:
        if self.authorizer is None:
            raise RuntimeError("the sample backend has no authorizer")
        return self.authorizer

    def _list(self, call: Call, kind: str, name: str, read: str) -> Answer:
        """The records the caller may read (one batch), employees redacted (one batch)."""
        authz = self._authz()
        candidates = list(self._entities.get(kind, {}).values())
        allowed: list[Any] = authz.allowed_resources(call.who, read, candidates)
        if kind == "Employee":
            documents = [self._employee(e) for e in allowed]
            return 200, {name: authz.redact(documents, call.who, allowed)}
        return 200, {name: [_record(e) for e in allowed]}

    def _employees(self, call: Call) -> Answer:
        return self._list(call, "Employee", "employees", "get /employees/{employeeId}")

    def _invoices(self, call: Call) -> Answer:
        return self._list(call, "Invoice", "invoices", "get /invoices/{invoiceId}")

    def _employee(self, entity: Entity) -> dict[str, Any]:
        """The whole record: its employmentInfo and salary are for some eyes only."""
        return {**_record(entity), "employmentInfo": self._info(entity),
                "salary": _salary(entity)}  # fmt: skip

    def _info(self, entity: Entity) -> dict[str, Any]:
        record = _record(entity)
        group = _record(self.entity("UserGroup", record["group"]) or {})
        info = {"division": record["division"], "group": record["group"]}
        if "hrGroup" in group:
            info["hrGroup"] = group["hrGroup"]
        return info

    def _one_employee(self, call: Call) -> Answer:
        assert call.entity is not None
        document = self._employee(call.entity)
        return 200, {"employee": self._authz().redact(document, call.who, call.entity)}

    def _one_invoice(self, call: Call) -> Answer:
        assert call.entity is not None
        return 200, {"invoice": _record(call.entity)}

    def _employment_info(self, call: Call) -> Answer:
        assert call.entity is not None
        return 200, {"employeeId": _id(call.entity), "employmentInfo": self._info(call.entity)}

    def _salary(self, call: Call) -> Answer:
        assert call.entity is not None
        return 200, {"employeeId": _id(call.entity), "salary": _salary(call.entity)}

    def _status(self, call: Call) -> Answer:
        assert call.entity is not None
        status = call.request.body.get("status", "updated")
        return 200, {"employeeId": _id(call.entity), "status": status}

    def _update_invoice(self, call: Call) -> Answer:
        assert call.entity is not None
        return 200, {"invoice": _record(call.entity), "updated": True}

    def _export(self, call: Call) -> Answer:
        tenant = (call.who.claims or {}).get("tenant")
        return 200, {"export": {"tenant": tenant, "status": "queued"}}

    def _transfer(self, call: Call) -> Answer:
        assert call.entity is not None
        amount = transfer_amount(call.request.body, call.request.query)
        return 200, {
            "transfer": {"accountId": _id(call.entity), "amount": amount, "status": "accepted"}
        }

    # --- the same routes as an aiohttp application ---------------------------------------------

    def provider(self, route: SampleRoute) -> Callable[[web.Request], Entity | None]:
        kind = route.kind

        def load(request: web.Request) -> Entity | None:
            ident = next(iter(request.match_info.values()), "")
            return self.entity(kind, ident) if kind else None

        return load

    def aiohttp_handler(self, route: SampleRoute) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            query = first_values(request)
            loaded, who = request.get(RESOURCE), caller(request)
            if who is None:  # only reachable without the guard: refuse
                return web.json_response({"message": "Forbidden"}, status=403)
            call = Call(
                BackendRequest(request.method, route.template, dict(request.match_info), query,
                               await _json_body(request), path=request.path),
                who,
                loaded if isinstance(loaded, dict) else None,
            )  # fmt: skip
            status, body = route.answer(self, call)
            return web.json_response(body, status=status)

        return handle


def backend_app(
    authorizer: Authorizer,
    *,
    trust_gateway: bool = False,
    source_ip: AddressReader = peer_address,
    entities: Path | None = None,
) -> web.Application:
    """The sample backend as an aiohttp application: every route ``require``s its action on the
    record it loads (404 when there is none), transfers with the amount of the body."""
    sample = SampleBackend.load(entities or ROOT / "entities" / "corp.json", authorizer)
    guard = Guard(authorizer, trust_gateway=trust_gateway, source_ip=source_ip)
    app = web.Application(middlewares=[cedar_middleware(guard)])
    for route in ROUTES.values():
        guarded = require(
            route.action,
            resource=sample.provider(route) if route.kind else None,
            context=_body_amount if route.reads_amount else None,
        )(sample.aiohttp_handler(route))
        app.router.add_route(route.method, route.template, guarded)
    return app


async def _body_amount(request: web.Request) -> dict[str, Any]:
    query = first_values(request)
    return _amount(await _json_body(request), query)


def _amount(body: Mapping[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    amount = transfer_amount(body, query)
    return {} if amount is None else {"amount": amount}


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:  # (can_read_body turns False once read; read() is cached)
        return {}
    try:
        body = json.loads(await request.read())
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


EMP = "/employees/{employeeId}"
ROUTES: dict[tuple[str, str], SampleRoute] = {
    (r.method, r.template): r
    for r in [
        SampleRoute("GET", "/employees", None, SampleBackend._employees),
        SampleRoute("GET", EMP, "Employee", SampleBackend._one_employee),
        SampleRoute("GET", EMP + "/employment-info", "Employee", SampleBackend._employment_info),
        SampleRoute("GET", EMP + "/salary", "Employee", SampleBackend._salary),
        SampleRoute("PUT", EMP + "/status", "Employee", SampleBackend._status),
        SampleRoute("GET", "/invoices", None, SampleBackend._invoices),
        SampleRoute("GET", "/invoices/{invoiceId}", "Invoice", SampleBackend._one_invoice),
        SampleRoute("PUT", "/invoices/{invoiceId}", "Invoice", SampleBackend._update_invoice),
        SampleRoute("POST", "/reports/export", None, SampleBackend._export),
        SampleRoute("POST", "/accounts/{accountId}/transfers", "Account",
                    SampleBackend._transfer, reads_amount=True),
    ]
}  # fmt: skip


def _plain(value: Any) -> Any:
    """Cedar JSON to plain JSON: entity references become their ids."""
    if isinstance(value, dict):
        if set(value) == {"__entity"}:
            return value["__entity"]["id"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _record(entity: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the API shows it: plain JSON, without its access-control lists."""
    if not entity:
        return {}
    attrs = {k: v for k, v in entity.get("attrs", {}).items() if k != "employmentInfoViewers"}
    return {"id": entity["uid"]["id"], **_plain(attrs)}


def _id(entity: Entity) -> str:
    return str(entity["uid"]["id"])


def _salary(entity: Entity) -> dict[str, Any]:
    return {"annual": SAMPLE_SALARIES.get(_id(entity), 0), "currency": "USD"}


def _not_found(kind: str, request: BackendRequest) -> Answer:
    ident = next(iter(request.path_parameters.values()), "")
    return 404, {"message": f"{kind.lower()} {ident} not found"}
