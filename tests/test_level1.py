"""Level 1, API Gateway's authorizer cache: routes whose decisions depend on the token alone are
evaluated together and answered with one IAM policy that is right for every such route, so a
policy cached by token never answers a route wrongly; the others answer for one ARN only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authorizer.gateway.arn_patterns import _NOT_CANONICAL
from authorizer.gateway.events import HTTP_METHODS
from authorizer.gateway.response import policy_allows
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import SAMPLE_USERS
from tests.conftest import FakeClock
from tests.helpers import outcome, rest, user_token


def route_names(routes: tuple[object, ...]) -> set[str]:
    return {f"{r.method} {r.template}" for r in routes}  # type: ignore[attr-defined]


def test_the_engine_tells_token_level_routes_from_the_policies(authz: Authorizer) -> None:
    # /employees and /invoices read only context.token and act on the Application; exports read
    # context.request (network, hours); the others act on a typed resource from the path.
    assert route_names(authz.token_routes) == {"GET /employees", "GET /invoices"}


@pytest.mark.parametrize("user", sorted(SAMPLE_USERS))
def test_one_cached_policy_answers_every_token_level_route_right(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, user: str
) -> None:
    token = user_token(issuer, user, clock.now)
    first = authz.handle(rest(token, "GET", "/employees", "/employees"))
    for route in authz.token_routes:
        path = route.template  # no parameters on these routes
        fresh = outcome(authz, rest(token, route.method, path, route.template))
        cached_answer = policy_allows(first, apigw.method_arn(route.method, path))
        assert ("Allow" if cached_answer else "Deny") == fresh, route


def test_the_policy_lists_allowed_and_denied_routes(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    response = authz.handle(
        rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    )
    statements = {s["Effect"]: s["Resource"] for s in response["policyDocument"]["Statement"]}
    prefix = apigw.method_arn("GET", "/").removesuffix("/GET/")
    # ... and every path with a doubled or trailing slash, or a dot segment (encoded too),
    # which a fresh decision refuses.
    odd = [f"{prefix}/{shape}" for shape in _NOT_CANONICAL]
    assert odd[:6] == [f"{prefix}/*//*", f"{prefix}/*/?*/", f"{prefix}/*/./*", f"{prefix}/*/.",
                       f"{prefix}/*/../*", f"{prefix}/*/.."]  # fmt: skip
    assert statements == {"Allow": [f"{prefix}/GET/employees"],
                          "Deny": [f"{prefix}/GET/invoices", *odd]}  # fmt: skip
    assert "determiningPolicies" not in response["context"]  # it would be wrong on other routes
    assert response["context"]["tenant"] == "acme"


def test_request_level_routes_answer_for_their_own_arn_only(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    event = rest(
        user_token(issuer, "alice", clock.now),
        "GET",
        "/employees/emp-001",
        "/employees/{employeeId}",
    )
    statements = authz.handle(event)["policyDocument"]["Statement"]
    assert statements == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [event["methodArn"]]}
    ]


def test_the_batch_is_cached_per_token(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    token = user_token(issuer, "fiona", clock.now)
    assert outcome(authz, rest(token, "GET", "/employees", "/employees")) == "Deny"
    assert outcome(authz, rest(token, "GET", "/invoices", "/invoices")) == "Allow"
    caches = [json.loads(line)["cache"] for line in capsys.readouterr().out.splitlines()]
    assert caches == ["none", "token"]


@pytest.mark.parametrize("mine", ["get /things/mine", "any /things/mine"])
def test_a_deny_pattern_covering_an_allowed_route_falls_back_to_one_arn(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock, tmp_path: object, mine: str
) -> None:
    """With GET /things/{id} denied and /things/mine allowed (for GET, or for ANY verb),
    `GET/things/*` would deny a GET on /things/mine too: the answer is then for the requested
    ARN only."""
    directory = Path(str(tmp_path))
    (directory / "p.cedar").write_text(
        f'@id("mine") permit (principal, action == Api::Action::"{mine}", resource);\n'
        '@id("any") permit (principal, action == Api::Action::"get /things/{id}", resource) when { false };\n'
    )
    authz = Authorizer.from_env(
        {**env, "CEDAR_POLICY_DIR": str(directory), "CEDAR_SCHEMA": "none", "CEDAR_NAMESPACE": "Api",
         "CEDAR_ENTITIES": "none"}, clock=clock,
    )  # fmt: skip
    token = user_token(issuer, "alice", clock.now)
    event = rest(token, "GET", "/things/mine", "/things/mine")
    response = authz.handle(event)
    allowed = response["policyDocument"]["Statement"][0]["Resource"]
    # The GET by its ARN alone; an ANY route's other verbs by their own (none of them denied).
    others = [apigw.method_arn(v, "/things/mine") for v in HTTP_METHODS if v != "GET"]
    assert allowed == [*(others if mine.startswith("any") else []),
                       apigw.method_arn("GET", "/things/mine")]  # fmt: skip
    assert policy_allows(response, event["methodArn"])
    assert not policy_allows(response, apigw.method_arn("GET", "/things/7"))
    assert outcome(authz, rest(token, "GET", "/things/mine", "/things/mine")) == "Allow"
    assert outcome(authz, rest(token, "GET", "/things/7", "/things/{id}")) == "Deny"


NOTES_SCHEMA = """
namespace Notes {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  type Request = { "sourceIp"?: ipaddr };
  action "get /notes/{noteId}", "get /notes/{noteId}/secret"
    appliesTo { principal: User, resource: Application };
  action "get /notes/{noteId}/raw"
    appliesTo { principal: User, resource: Application, context: { "request": Request } };
}
"""
NOTES_POLICIES = """
@id("read") permit (principal, action == Notes::Action::"get /notes/{noteId}", resource);
@id("raw-inside") permit (principal, action == Notes::Action::"get /notes/{noteId}/raw", resource)
when { context.request has sourceIp && context.request.sourceIp.isInRange(ip("10.0.0.0/8")) };
"""


def test_a_cached_token_level_answer_never_allows_a_route_decided_per_request(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: object, clock: FakeClock
) -> None:
    """`Allow GET/notes/*` (the token-level `GET /notes/{noteId}`) covered `GET/notes/n1/raw`,
    whose policy reads the source address: cached by token, it was allowed from anywhere."""
    from tests.helpers import fresh_app  # noqa: PLC0415

    url = jwks_server.url  # type: ignore[attr-defined]
    notes = fresh_app(tmp_path, issuer, url, clock, NOTES_SCHEMA, NOTES_POLICIES)
    assert route_names(notes.token_routes) == {"GET /notes/{noteId}", "GET /notes/{noteId}/secret"}
    token = issuer.token("u1", now=clock())
    answer = notes.handle(rest(token, "GET", "/notes/n1", "/notes/{noteId}"))
    assert policy_allows(answer, apigw.method_arn("GET", "/notes/n1"))
    assert not policy_allows(answer, apigw.method_arn("GET", "/notes/n1/secret"))
    assert not policy_allows(answer, apigw.method_arn("GET", "/notes/n1/raw"))
    for dotted in ("/notes/../admin", "/notes/./n1", "/notes/n1/..", "/notes/n1/."):
        assert not policy_allows(answer, apigw.method_arn("GET", dotted)), dotted
    raw = rest(token, "GET", "/notes/n1/raw", "/notes/{noteId}/raw")  # from outside 10/8
    assert outcome(notes, raw) == "Deny"


SEARCH_SCHEMA = """
namespace Lib {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  action "any /search", "get /files/{path+}", "get /files/secret/{rest+}", "get /books"
    appliesTo { principal: User, resource: Application };
}
"""
SEARCH_POLICIES = """
@id("search") permit (principal, action == Lib::Action::"any /search", resource);
@id("files") permit (principal, action == Lib::Action::"get /files/{path+}", resource);
"""


def test_an_allowed_any_route_is_said_verb_by_verb_in_a_cached_answer(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: object, clock: FakeClock
) -> None:
    """`*/search` spans `/` and covers `GET/files/secret/search`, a request of a denied route
    whose own Deny cannot be said (`GET/files/secret/*` covers the allowed `GET/files/*`'s
    requests): the allowed ANY route was left out of every cached answer, and GET /search was a
    403 from the cache for the TTL after the caller's first request elsewhere."""
    from tests.helpers import fresh_app  # noqa: PLC0415

    url = jwks_server.url  # type: ignore[attr-defined]
    lib = fresh_app(tmp_path, issuer, url, clock, SEARCH_SCHEMA, SEARCH_POLICIES)
    token = issuer.token("u1", now=clock())
    answer = lib.handle(rest(token, "GET", "/books", "/books"))  # denied, token-level
    for verb in HTTP_METHODS:
        assert policy_allows(answer, apigw.method_arn(verb, "/search")), verb
        assert outcome(lib, rest(token, verb, "/search", "/search")) == "Allow"
    for path in ("/files/secret/search", "/books"):
        assert not policy_allows(answer, apigw.method_arn("GET", path)), path


def test_a_literal_route_decided_per_request_takes_nothing_from_its_parameter_sibling(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: object, clock: FakeClock
) -> None:
    """`GET /cages/vip` (its policy reads the source address) beside the token-level
    `GET /cages/{cageId}`: its pattern fits `{cageId}`, so the Allow `GET/cages/*` was left out
    and every other cage was a 403 from the cache. API Gateway sends /cages/vip to the literal
    route alone: its own Deny is exact."""
    from tests.helpers import fresh_app  # noqa: PLC0415

    schema = NOTES_SCHEMA.replace("get /notes/{noteId}/raw", "get /notes/vip")
    policies = NOTES_POLICIES.replace("get /notes/{noteId}/raw", "get /notes/vip")
    url = jwks_server.url  # type: ignore[attr-defined]
    notes = fresh_app(tmp_path, issuer, url, clock, schema, policies)
    token = issuer.token("u1", now=clock())
    answer = notes.handle(rest(token, "GET", "/notes/n1", "/notes/{noteId}"))
    assert policy_allows(answer, apigw.method_arn("GET", "/notes/n2"))
    assert not policy_allows(answer, apigw.method_arn("GET", "/notes/vip"))
    assert outcome(notes, rest(token, "GET", "/notes/vip", "/notes/vip")) == "Deny"
    for odd in ("/notes/%2e%2e", "/notes/..%2Fadmin", "/notes/a%5cb", "/notes/%2Eenv"):
        assert not policy_allows(answer, apigw.method_arn("GET", odd)), odd
