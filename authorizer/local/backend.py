"""The sample application's backend behind the local gateway: JSON answers for each route, read
from the sample entity store (entities/corp.json). It runs only after the authorizer allowed the
request, and sees the authorizer's answer as API Gateway's ``requestContext.authorizer``:
``{"principalId": ..., <context>}`` for a REST API, ``{"lambda": <context>}`` for an HTTP API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Answer = tuple[int, dict[str, Any]]
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

    @property
    def context(self) -> Mapping[str, Any]:
        """The authorizer's context, whichever API flavour delivered it."""
        nested = self.authorizer.get("lambda")
        return nested if isinstance(nested, Mapping) else self.authorizer


class SampleBackend:
    def __init__(self, entities: list[dict[str, Any]]) -> None:
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        for entity in entities:
            kind = entity["uid"]["type"].rsplit("::", 1)[-1]
            record = {"id": entity["uid"]["id"], **_plain(entity.get("attrs", {}))}
            self._records.setdefault(kind, {})[record["id"]] = record
        self._routes: dict[tuple[str, str], Callable[[BackendRequest], Answer]] = {
            ("GET", "/employees"): lambda r: self._list(r, "Employee", "employees"),
            ("GET", "/employees/{employeeId}"): lambda r: self._one(r, "Employee", "employee"),
            ("GET", "/employees/{employeeId}/employment-info"): self._employment_info,
            ("GET", "/employees/{employeeId}/salary"): self._salary,
            ("PUT", "/employees/{employeeId}/status"): self._status,
            ("GET", "/invoices"): lambda r: self._list(r, "Invoice", "invoices"),
            ("GET", "/invoices/{invoiceId}"): lambda r: self._one(r, "Invoice", "invoice"),
            ("PUT", "/invoices/{invoiceId}"): self._update_invoice,
            ("POST", "/reports/export"): self._export,
            ("POST", "/accounts/{accountId}/transfers"): self._transfer,
        }

    @classmethod
    def load(cls, path: Path) -> SampleBackend:
        entities: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return cls(entities)

    def handle(self, request: BackendRequest) -> Answer:
        route = self._routes.get((request.method, request.route))
        if route is None:  # a route the policies declare but this sample does not implement
            status, body = 200, {"route": request.route, "pathParameters": request.path_parameters}
        else:
            status, body = route(request)
        return status, {**body, "authorizer": dict(request.authorizer)}

    # --- routes ------------------------------------------------------------------------------

    def _find(self, kind: str, request: BackendRequest) -> dict[str, Any] | None:
        ident = next(iter(request.path_parameters.values()), "")
        return self._records.get(kind, {}).get(ident)

    def _list(self, request: BackendRequest, kind: str, name: str) -> Answer:
        tenant = request.context.get("tenant")
        records = [r for r in self._records.get(kind, {}).values() if r.get("tenant") == tenant]
        return 200, {name: records}

    def _one(self, request: BackendRequest, kind: str, name: str) -> Answer:
        record = self._find(kind, request)
        if record is None:
            return _not_found(kind, request)
        return 200, {name: _public(record)}

    def _employment_info(self, request: BackendRequest) -> Answer:
        record = self._find("Employee", request)
        if record is None:
            return _not_found("Employee", request)
        group = self._records.get("UserGroup", {}).get(record["group"], {})
        info = {"division": record["division"], "group": record["group"]}
        if "hrGroup" in group:
            info["hrGroup"] = group["hrGroup"]
        return 200, {"employeeId": record["id"], "employmentInfo": info}

    def _salary(self, request: BackendRequest) -> Answer:
        record = self._find("Employee", request)
        if record is None:
            return _not_found("Employee", request)
        amount = SAMPLE_SALARIES.get(record["id"], 0)
        return 200, {"employeeId": record["id"], "salary": {"annual": amount, "currency": "USD"}}

    def _status(self, request: BackendRequest) -> Answer:
        record = self._find("Employee", request)
        if record is None:
            return _not_found("Employee", request)
        status = request.body.get("status", "updated")
        return 200, {"employeeId": record["id"], "status": status}

    def _update_invoice(self, request: BackendRequest) -> Answer:
        record = self._find("Invoice", request)
        if record is None:
            return _not_found("Invoice", request)
        return 200, {"invoice": _public(record), "updated": True}

    def _export(self, request: BackendRequest) -> Answer:
        tenant = request.context.get("tenant")
        return 200, {"export": {"tenant": tenant, "status": "queued"}}

    def _transfer(self, request: BackendRequest) -> Answer:
        record = self._find("Account", request)
        if record is None:
            return _not_found("Account", request)
        amount = request.body.get("amount", request.query.get("amount"))
        return 200, {
            "transfer": {"accountId": record["id"], "amount": amount, "status": "accepted"}
        }


def _plain(value: Any) -> Any:
    """Cedar JSON to plain JSON: entity references become their ids."""
    if isinstance(value, dict):
        if set(value) == {"__entity"}:
            return value["__entity"]["id"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its access-control lists."""
    return {k: v for k, v in record.items() if k != "employmentInfoViewers"}


def _not_found(kind: str, request: BackendRequest) -> Answer:
    ident = next(iter(request.path_parameters.values()), "")
    return 404, {"message": f"{kind.lower()} {ident} not found"}
