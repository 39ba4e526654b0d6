"""The Lambda entry point on every event kind, the response shapes API Gateway accepts, the
decision log line, and the in-process caches."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from authorizer import handler
from authorizer.pdp import Authorizer
from authorizer.tooling.cli import main
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import split_profile
from tests.conftest import ROOT, FakeClock, JwksServer
from tests.helpers import decide, outcome, rest, user_token


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], clock: FakeClock) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_authorizer", None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_lambda_handler_end_to_end(lambda_env: None, issuer: LocalIssuer) -> None:
    """The real entry point reads the real clock: the token is minted now."""
    token = user_token(issuer, "alice", time.time())
    event = rest(token, "GET", "/employees/emp-001", "/employees/{employeeId}")
    response = handler.lambda_handler(event, None)
    assert response["principalId"] == "alice"
    statement = response["policyDocument"]["Statement"][0]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [event["methodArn"]],
    }
    assert response["policyDocument"]["Version"] == "2012-10-17"
    assert response["context"]["tenant"] == "acme"
    assert response["context"]["determiningPolicies"] == "employees-read"
    assert all(isinstance(v, str | int | float | bool) for v in response["context"].values())
    assert handler.get_authorizer() is handler.get_authorizer()  # built once per container


@pytest.mark.parametrize(
    ("user", "expected"), [("alice", "Allow"), ("fiona", "Deny")], ids=["allowed", "denied"]
)
def test_token_event_maps_the_method_arn_path_to_a_route(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, user: str, expected: str
) -> None:
    """A TOKEN event carries no route template: the methodArn's path is matched."""
    event = apigw.token_event(
        "GET", "/employees/emp-001", "Bearer " + user_token(issuer, user, clock.now)
    )
    assert outcome(authz, event) == expected


def test_http_api_v1_answers_with_an_iam_policy(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    event = apigw.http_v1_event("GET", "/employees", "/employees", headers=bearer(token))
    assert "policyDocument" in authz.handle(event)
    assert outcome(authz, event) == "Allow"


@pytest.mark.parametrize(("user", "allowed"), [("alice", True), ("fiona", False)])
def test_http_api_v2_answers_with_a_simple_response(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, user: str, allowed: bool
) -> None:
    event = apigw.http_v2_event("GET", "/employees/emp-001", "/employees/{employeeId}",
                                headers=bearer(user_token(issuer, user, clock.now)))  # fmt: skip
    response = authz.handle(event)
    assert set(response) == {"isAuthorized", "context"}
    assert response["isAuthorized"] is allowed


def test_http_api_v2_default_route_matches_the_raw_path(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    event = apigw.http_v2_event("GET", "/employees/emp-001", None,
                                headers=bearer(user_token(issuer, "alice", clock.now)))  # fmt: skip
    assert event["routeKey"] == "$default"
    assert authz.handle(event)["isAuthorized"] is True


def test_http_api_v2_can_answer_with_iam_policies(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = Authorizer.from_env({**env, "HTTP_API_SIMPLE_RESPONSES": "false"}, clock=clock)
    event = apigw.http_v2_event("GET", "/employees", "/employees",
                                headers=bearer(user_token(issuer, "alice", clock.now)))  # fmt: skip
    assert "policyDocument" in authz.handle(event)
    assert outcome(authz, event) == "Allow"


def test_es256_tokens_are_accepted(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    claims = issuer.claims("alice", groups=["engineering"], extra={"tenant": "acme", "permissions": ["employee:read"]},
                           now=clock.now)  # fmt: skip
    token = issuer.sign(claims, key=issuer.keys[1])
    assert issuer.keys[1].alg == "ES256"
    assert outcome(authz, rest(token, "GET", "/employees", "/employees")) == "Allow"


def test_id_tokens_when_configured(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = Authorizer.from_env({**env, "AUTH_TOKEN_USE": "id"}, clock=clock)
    id_token = user_token(issuer, "adam", clock.now, token_use="id")
    access_token = user_token(issuer, "adam", clock.now)
    status = ("PUT", "/employees/emp-001/status", "/employees/{employeeId}/status")
    assert outcome(authz, rest(id_token, *status)) == "Allow"
    assert outcome(authz, rest(access_token, *status)) == "401"


def test_one_log_line_per_decision_without_the_token(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    token = user_token(issuer, "fiona", clock.now)
    outcome(authz, rest(token, "GET", "/employees", "/employees"))
    outcome(authz, rest(token[:-4] + "AAAA", "GET", "/employees", "/employees"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["outcome"] for line in lines] == ["Deny", "Unauthorized"]
    deny, unauthorized = lines
    assert deny["principal"] == "fiona" and deny["action"] == "get /employees"
    assert deny["resource"] == 'Corp::Application::"Corp"'
    assert deny["cache"] == "none" and deny["latency_ms"] > 0
    metrics = deny["_aws"]["CloudWatchMetrics"][0]
    assert {m["Name"] for m in metrics["Metrics"]} == {"Decisions", "Latency"}
    assert unauthorized["token_failure"] == "bad_signature"
    assert "TokenFailures" in {
        m["Name"] for m in unauthorized["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    everything = json.dumps(lines)
    assert token.split(".")[1] not in everything and token.split(".")[2] not in everything


def test_repeated_requests_hit_the_caches(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, jwks_server: JwksServer,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    verified: list[str] = []
    original = authz.verifier.verify
    monkeypatch.setattr(authz.verifier, "verify", lambda t: verified.append(t) or original(t))
    token = user_token(issuer, "alice", clock.now)
    now_ms = int(clock.now * 1000)
    record = rest(token, "GET", "/employees/emp-001", "/employees/{employeeId}", now_ms=now_ms)
    for _ in range(3):  # a request-level route: the decision cache, keyed by the request
        assert outcome(authz, record) == "Allow"
    clock.advance(61)  # past DECISION_CACHE_TTL: evaluated again
    assert outcome(authz, record) == "Allow"
    listing = rest(token, "GET", "/employees", "/employees", now_ms=now_ms)
    invoices = rest(token, "GET", "/invoices", "/invoices", now_ms=now_ms)
    assert outcome(authz, listing) == "Allow"  # token-level: every such route in one batch...
    assert outcome(authz, invoices) == "Deny"  # ...so another one is a cache hit
    assert len(verified) == 1 and jwks_server.hits == 1
    caches = [json.loads(line)["cache"] for line in capsys.readouterr().out.splitlines()]
    assert caches == ["none", "decision", "decision", "none", "none", "token"]


def test_cached_tokens_expire_with_the_token(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    event: dict[str, Any] = rest(
        token, "GET", "/employees", "/employees", now_ms=int(clock.now * 1000)
    )
    assert outcome(authz, event) == "Allow"
    clock.advance(3600 + 10)
    assert outcome(authz, event) == "401"


def test_a_quote_in_sub_is_data_not_syntax(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    claims = issuer.claims('alice" || principal == Corp::User::"x', groups=["admins"],
                           extra={"tenant": "acme"}, now=clock.now)  # fmt: skip
    response = authz.handle(
        rest(
            issuer.sign(claims),
            "PUT",
            "/employees/emp-001/status",
            "/employees/{employeeId}/status",
        )
    )
    assert response["principalId"] == 'alice" || principal == Corp::User::"x'
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def status_grant(policies: Path, folder: Path) -> Path:
    """A template in ``policies`` letting a principal set one employee's status, and the links
    file (written in ``folder``) linking it for alice and emp-001."""
    (policies / "grants.cedar").write_text(
        '@id("status-grant")\n'
        "permit (principal == ?principal, "
        'action == Corp::Action::"put /employees/{employeeId}/status", resource == ?resource);\n'
    )
    links = folder / "links.json"
    links.write_text(json.dumps([{
        "template_id": "status-grant", "link_id": "alice-may-set-emp-001",
        "args": {"?principal": 'Corp::User::"alice"', "?resource": 'Corp::Employee::"emp-001"'},
    }]))  # fmt: skip
    return links


def test_template_linked_policies_from_a_links_file(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock, tmp_path: Path
) -> None:
    """CEDAR_TEMPLATE_LINKS: the Cedar CLI's links file; a linked policy decides like any other."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    links = status_grant(policies, tmp_path)
    authz = Authorizer.from_env(
        {**env, "CEDAR_POLICY_DIR": str(policies), "CEDAR_TEMPLATE_LINKS": str(links)}, clock=clock
    )
    token = user_token(issuer, "alice", clock.now)
    status = "/employees/{employeeId}/status"
    allowed = rest(token, "PUT", "/employees/emp-001/status", status)
    assert outcome(authz, allowed) == "Allow"
    assert decide(authz, allowed).determining == ("alice-may-set-emp-001",)
    assert outcome(authz, rest(token, "PUT", "/employees/emp-002/status", status)) == "Deny"


@pytest.mark.parametrize("compiled", [False, True])
def test_a_policy_folder_of_templates_alone_is_served_by_its_links(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock, tmp_path: Path, compiled: bool
) -> None:
    """Verified Permissions stores are templates and links: a folder of templates alone refused
    to start ("no policies"), whatever CEDAR_TEMPLATE_LINKS linked. Unlinked, nothing is
    allowed."""
    policies = tmp_path / "policies"
    policies.mkdir()
    links = status_grant(policies, tmp_path)
    settings = {**env, "CEDAR_POLICY_DIR": str(policies)}
    if compiled:
        assert main(["compile", "--policies", str(policies), "--schema", env["CEDAR_SCHEMA"],
                     "--entities", env["CEDAR_ENTITIES"]]) == 0  # fmt: skip
    token = user_token(issuer, "alice", clock.now)
    allowed = rest(token, "PUT", "/employees/emp-001/status", "/employees/{employeeId}/status")
    linked = Authorizer.from_env({**settings, "CEDAR_TEMPLATE_LINKS": str(links)}, clock=clock)
    assert outcome(linked, allowed) == "Allow"
    assert outcome(Authorizer.from_env(settings, clock=clock), allowed) == "Deny"


def test_a_users_next_token_with_the_same_claims_finds_the_cached_decisions(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decisions are keyed on what Cedar sees (entities, token record, context), not on the
    token: a refreshed token (new jti, iat, exp) of the same user is answered from the cache."""
    now_ms = int(clock.now * 1000)
    for _ in range(2):
        token = user_token(issuer, "alice", clock.now)
        assert outcome(authz, rest(token, "GET", "/employees/emp-001", "/employees/{employeeId}",
                                   now_ms=now_ms)) == "Allow"  # fmt: skip
        assert outcome(authz, rest(token, "GET", "/employees", "/employees", now_ms=now_ms)) == (
            "Allow"
        )
        clock.advance(30)  # the next token is issued later: other iat, exp and jti
    caches = [json.loads(line)["cache"] for line in capsys.readouterr().out.splitlines()]
    assert caches == ["none", "none", "decision", "token"]


RECORD = ("GET", "/employees/emp-001", "/employees/{employeeId}")


@pytest.mark.parametrize(
    ("changed", "route"),
    [
        # The scope is in context.token, which the employee policies read.
        ({"scope": "openid"}, ("GET", "/employees", "/employees")),
        ({"scope": "openid"}, RECORD),
        # The groups become the principal's parents.
        ({"groups": []}, RECORD),
        # A principal attribute (tenant isolation reads it).
        ({"tenant": "globex"}, RECORD),
    ],
    ids=["scope-token-level", "scope-record", "groups", "tenant"],
)
def test_a_token_that_differs_in_what_cedar_sees_is_decided_again(
    authz: Authorizer, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock,
    capsys: pytest.CaptureFixture[str], changed: dict[str, Any], route: tuple[str, str, str],
) -> None:  # fmt: skip
    """Each change reaches Cedar, so the second token is evaluated, never answered with the
    first one's decision; the answer is that of an authorizer that never saw the first."""
    now_ms = int(clock.now * 1000)
    groups, profile = split_profile("alice")
    claims: dict[str, Any] = {"groups": groups, "scope": "openid employee:read", "extra": profile}
    first = issuer.token("alice", now=clock.now, **claims)
    assert outcome(authz, rest(first, *route, now_ms=now_ms)) == "Allow"
    for name, value in changed.items():
        if name in claims:
            claims[name] = value
        else:
            claims["extra"] = {**profile, name: value}
    second = rest(issuer.token("alice", now=clock.now + 1, **claims), *route, now_ms=now_ms)
    answer = outcome(authz, second)
    caches = [json.loads(line)["cache"] for line in capsys.readouterr().out.splitlines()]
    assert caches == ["none", "none"]
    assert answer == outcome(Authorizer.from_env(env, clock=clock), second)
    if "groups" not in changed:  # alice's own permissions grant what her groups would
        assert answer == "Deny"


@pytest.mark.parametrize(("validate", "expected"), [("false", "decision"), ("true", "none")])
def test_with_request_validation_every_context_attribute_keys_the_decision(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock,
    capsys: pytest.CaptureFixture[str], validate: str, expected: str,
) -> None:  # fmt: skip
    """The record route's policies read no source IP, so by default a request from another
    address finds the cached decision; with CEDAR_VALIDATE_REQUESTS Cedar checks the whole
    context, and the decision is keyed on all of it."""
    authz = Authorizer.from_env({**env, "CEDAR_VALIDATE_REQUESTS": validate}, clock=clock)
    token = user_token(issuer, "alice", clock.now)
    now_ms = int(clock.now * 1000)
    for source_ip in ("203.0.113.10", "203.0.113.11"):
        event = rest(token, *RECORD, now_ms=now_ms, source_ip=source_ip)
        assert outcome(authz, event) == "Allow"
    caches = [json.loads(line)["cache"] for line in capsys.readouterr().out.splitlines()]
    assert caches == ["none", expected]
