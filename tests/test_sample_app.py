"""Every scenario of the sample application (docs/architecture.md, The sample application),
allow and deny, through the real handler: REST REQUEST event -> token verified over HTTP JWKS ->
entities -> cedarpy."""

from __future__ import annotations

from typing import Any

import pytest

from authorizer.errors import InvalidRequest
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import NOW, FakeClock
from tests.helpers import decide, outcome, rest, user_token

EMP = "/employees/{employeeId}"
OFFICE_IP, HOME_IP = "10.20.30.40", "198.51.100.7"
MORNING_MS = int((NOW - (NOW % 86400) + 10 * 3600) * 1000)  # 10:00 UTC on the test day
EVENING_MS = int((NOW - (NOW % 86400) + 20 * 3600) * 1000)  # 20:00 UTC

CASES: list[tuple[str, str, str, str, str, dict[str, Any], str]] = [
    # id, user, method, path, template, event kwargs, expected
    # Employees: scope AND (permission or hr group) to list or read.
    ("list-permission", "alice", "GET", "/employees", "/employees", {}, "Allow"),
    ("list-hr-nested-group", "hank", "GET", "/employees", "/employees", {}, "Allow"),
    ("list-no-grant", "fiona", "GET", "/employees", "/employees", {}, "Deny"),
    ("read-record", "alice", "GET", "/employees/emp-001", EMP, {}, "Allow"),
    ("read-other-tenant", "alice", "GET", "/employees/emp-101", EMP, {}, "Deny"),
    ("read-other-tenant-mallory", "mallory", "GET", "/employees/emp-001", EMP, {}, "Deny"),
    ("read-unknown-employee", "alice", "GET", "/employees/emp-999", EMP, {}, "Deny"),
    # employmentInfo: own group, sibling HR group, explicit grant.
    (
        "info-own-group",
        "alice",
        "GET",
        "/employees/emp-001/employment-info",
        EMP + "/employment-info",
        {},
        "Allow",
    ),
    (
        "info-sibling-hr",
        "hank",
        "GET",
        "/employees/emp-001/employment-info",
        EMP + "/employment-info",
        {},
        "Allow",
    ),
    (
        "info-explicit-grant",
        "auditor-0001",
        "GET",
        "/employees/emp-001/employment-info",
        EMP + "/employment-info",
        {},
        "Allow",
    ),
    (
        "info-grant-is-per-record",
        "auditor-0001",
        "GET",
        "/employees/emp-002/employment-info",
        EMP + "/employment-info",
        {},
        "Deny",
    ),
    (
        "info-other-division-hr",
        "harriet",
        "GET",
        "/employees/emp-001/employment-info",
        EMP + "/employment-info",
        {},
        "Deny",
    ),
    (
        "info-unrelated",
        "fiona",
        "GET",
        "/employees/emp-001/employment-info",
        EMP + "/employment-info",
        {},
        "Deny",
    ),
    # salary: the division's HR subgroup only, nested groups honoured.
    (
        "salary-hr-subgroup",
        "hank",
        "GET",
        "/employees/emp-001/salary",
        EMP + "/salary",
        {},
        "Allow",
    ),
    (
        "salary-nested-subgroup",
        "paula",
        "GET",
        "/employees/emp-001/salary",
        EMP + "/salary",
        {},
        "Allow",
    ),
    (
        "salary-own-group-not-enough",
        "alice",
        "GET",
        "/employees/emp-001/salary",
        EMP + "/salary",
        {},
        "Deny",
    ),
    (
        "salary-other-division-hr",
        "harriet",
        "GET",
        "/employees/emp-001/salary",
        EMP + "/salary",
        {},
        "Deny",
    ),
    (
        "salary-finance-division",
        "harriet",
        "GET",
        "/employees/emp-002/salary",
        EMP + "/salary",
        {},
        "Allow",
    ),
    # status changes: admins.
    ("status-admin", "adam", "PUT", "/employees/emp-001/status", EMP + "/status", {}, "Allow"),
    ("status-non-admin", "hank", "PUT", "/employees/emp-001/status", EMP + "/status", {}, "Deny"),
    (
        "status-admin-other-tenant",
        "mallory",
        "PUT",
        "/employees/emp-001/status",
        EMP + "/status",
        {},
        "Deny",
    ),
    # Invoices: finance + permission or role.
    ("invoices-list-viewer", "fiona", "GET", "/invoices", "/invoices", {}, "Allow"),
    ("invoices-list-not-finance", "alice", "GET", "/invoices", "/invoices", {}, "Deny"),
    ("invoice-read", "fiona", "GET", "/invoices/inv-001", "/invoices/{invoiceId}", {}, "Allow"),
    (
        "invoice-read-other-tenant",
        "mallory",
        "GET",
        "/invoices/inv-001",
        "/invoices/{invoiceId}",
        {},
        "Deny",
    ),
    (
        "invoice-edit-editor",
        "eddie",
        "PUT",
        "/invoices/inv-001",
        "/invoices/{invoiceId}",
        {},
        "Allow",
    ),
    (
        "invoice-edit-viewer",
        "fiona",
        "PUT",
        "/invoices/inv-001",
        "/invoices/{invoiceId}",
        {},
        "Deny",
    ),
    # Report exports: permission, corporate network, business hours.
    (
        "export-office-hours",
        "eddie",
        "POST",
        "/reports/export",
        "/reports/export",
        {"source_ip": OFFICE_IP, "now_ms": MORNING_MS},
        "Allow",
    ),
    (
        "export-from-home",
        "eddie",
        "POST",
        "/reports/export",
        "/reports/export",
        {"source_ip": HOME_IP, "now_ms": MORNING_MS},
        "Deny",
    ),
    (
        "export-after-hours",
        "eddie",
        "POST",
        "/reports/export",
        "/reports/export",
        {"source_ip": OFFICE_IP, "now_ms": EVENING_MS},
        "Deny",
    ),
    (
        "export-no-permission",
        "fiona",
        "POST",
        "/reports/export",
        "/reports/export",
        {"source_ip": OFFICE_IP, "now_ms": MORNING_MS},
        "Deny",
    ),
    # Transfers: initiator, BUSINESS + ACTIVE account, amount under the daily limit.
    (
        "transfer-ok",
        "pat",
        "POST",
        "/accounts/acc-001/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "1200"}},
        "Allow",
    ),
    (
        "transfer-over-limit",
        "pat",
        "POST",
        "/accounts/acc-001/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "5000"}},
        "Deny",
    ),
    (
        "transfer-no-amount",
        "pat",
        "POST",
        "/accounts/acc-001/transfers",
        "/accounts/{accountId}/transfers",
        {},
        "Deny",
    ),
    (
        "transfer-personal-account",
        "pat",
        "POST",
        "/accounts/acc-002/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "10"}},
        "Deny",
    ),
    (
        "transfer-frozen-account",
        "pat",
        "POST",
        "/accounts/acc-003/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "10"}},
        "Deny",
    ),
    (
        "transfer-not-initiator",
        "eddie",
        "POST",
        "/accounts/acc-001/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "10"}},
        "Deny",
    ),
    (
        "transfer-other-tenant",
        "mallory",
        "POST",
        "/accounts/acc-001/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "10"}},
        "Deny",
    ),
    (
        "transfer-own-tenant-mallory",
        "mallory",
        "POST",
        "/accounts/acc-101/transfers",
        "/accounts/{accountId}/transfers",
        {"query": {"amount": "10"}},
        "Allow",
    ),
    # A route the API does not declare is denied, never allowed.
    ("unknown-route", "adam", "DELETE", "/employees/emp-001", EMP, {}, "Deny"),
]


# Every test that replays the scenario table takes these arguments.
each_scenario = pytest.mark.parametrize(
    ("user", "method", "path", "template", "kwargs", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)


@each_scenario
def test_scenario(
    authz: Authorizer,
    issuer: LocalIssuer,
    clock: FakeClock,
    user: str,
    method: str,
    path: str,
    template: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    token = user_token(issuer, user, clock.now)
    kwargs.setdefault("now_ms", int(clock.now * 1000))
    assert outcome(authz, rest(token, method, path, template, **kwargs)) == expected


@pytest.mark.parametrize("amount", ["12e3", "1200.0", "99999999999999999999", "", "12 00"])
def test_a_parameter_that_cannot_take_its_type_is_refused(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, amount: str
) -> None:
    """A policy reads `context.amount` (a Long) from the query. Dropped, the request would be
    decided as if no amount were sent, so a `forbid` guarded by `context has amount` would not
    hold while the backend reads what was sent: refused (401), as a parameter given twice is,
    at the gateway and in the backend library alike."""
    token = user_token(issuer, "pat", clock.now)
    transfer = ("POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers")
    event = rest(token, *transfer, query={"amount": amount}, now_ms=int(clock.now * 1000))
    assert outcome(authz, event) == "401"
    account = {"type": "Corp::Account", "id": "acc-001"}
    action = "post /accounts/{accountId}/transfers"
    with pytest.raises(InvalidRequest, match="'amount' is not a Long"):
        authz.authorize_token(token, action, account, {"amount": amount})
    assert authz.authorize_token(token, action, account, {"amount": " 1200 "}).allowed


def test_every_scenario_decides_alike_with_request_validation(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With CEDAR_VALIDATE_REQUESTS every request is checked against the schema in full (no
    context pruning): the same answers, and no request is refused as ill-shaped."""
    strict = Authorizer.from_env({**env, "CEDAR_VALIDATE_REQUESTS": "true"}, clock=clock)
    assert strict.engine.validate_requests
    for _, user, method, path, template, kwargs, expected in CASES:
        event = rest(user_token(issuer, user, clock.now), method, path, template,
                     **{"now_ms": int(clock.now * 1000), **kwargs})  # fmt: skip
        decision = decide(strict, event)
        assert decision.decision != "NoDecision", decision.errors
        assert outcome(strict, event) == expected, (user, method, path)


def test_scope_is_required_even_with_permission(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now, scope="openid")
    assert outcome(authz, rest(token, "GET", "/employees", "/employees")) == "Deny"


def test_every_sample_policy_is_exercised_by_an_allow(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The determining policies of the allowed cases cover every permit of the sample app."""
    seen: set[str] = set()
    for _, user, method, path, template, kwargs, expected in CASES:
        if expected != "Allow":
            continue
        event = rest(
            user_token(issuer, user, clock.now),
            method,
            path,
            template,
            **{"now_ms": int(clock.now * 1000), **kwargs},
        )
        seen.update(decide(authz, event).determining)
    permits = {s.id for s in authz.engine.policies.sources.values() if s.json["effect"] == "permit"}
    assert permits <= seen
