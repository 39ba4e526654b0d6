"""A claim the schema requires is there or the token is refused (authorizer/cedar/coerce.py).

Cedar never checks the caller's entities or the context against the schema here (they are added
to a parsed store), so a missing required attribute reached it as absent: a ``forbid`` guarded by
``principal has sites`` did not hold, and a reader without ``sites`` was allowed where Cedar,
given the schema, refuses the entity. A small application of its own (namespace ``Docs``),
real RS256 tokens and a real JWKS over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer.errors import InvalidToken
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import fresh_app, outcome

SCHEMA = """
namespace Docs {
  type Tok = { "scope"?: Set<String>, "acr": String };
  entity Application;
  entity UserGroup;
  entity User in [UserGroup] = { "sites": Set<String>, "profile"?: { "region": String } };
  entity Doc = { "site": String };
  action "get /docs/{docId}" appliesTo { principal: User, resource: Doc,
                                         context: { "token": Tok } };
  action "get /inbox" appliesTo { principal: User, resource: Application,
                                  context: { "token": Tok } };
}
"""
POLICIES = """
@id("read")
permit (principal, action, resource);

@id("sites")
forbid (principal, action == Docs::Action::"get /docs/{docId}", resource)
when { principal has sites && !principal.sites.contains(resource.site) };

@id("acr")
forbid (principal, action == Docs::Action::"get /inbox", resource)
when { context.token has acr && context.token.acr != "mfa" };
"""
ENTITIES = [
    {"uid": {"type": "Docs::Doc", "id": "d1"}, "attrs": {"site": "zurich"}, "parents": []},
    # A user the file holds: its version is the one Cedar gets, whatever the token lacks.
    {"uid": {"type": "Docs::User", "id": "filed"}, "attrs": {"sites": ["geneva"]}, "parents": []},
]


@pytest.fixture
def docs(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> Authorizer:
    return fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES, ENTITIES)


def get(token: str, path: str, template: str) -> dict[str, Any]:
    return apigw.rest_request_event(
        "GET", path, template, headers={"Authorization": f"Bearer {token}"}
    )


def doc(token: str) -> dict[str, Any]:
    return get(token, "/docs/d1", "/docs/{docId}")


def inbox(token: str) -> dict[str, Any]:
    return get(token, "/inbox", "/inbox")


def test_a_principal_without_a_required_claim_is_refused(
    docs: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    lacking = issuer.token("rita", extra={"acr": "mfa"}, now=clock())
    assert outcome(docs, doc(lacking)) == "401"
    with pytest.raises(InvalidToken, match="'sites' is required by the schema") as refused:
        docs.verify(lacking)
    assert refused.value.reason == "missing_claim"
    # With the claim, the forbid holds (zurich is not among her sites), then it does not.
    elsewhere = issuer.token("rita", extra={"acr": "mfa", "sites": ["geneva"]}, now=clock())
    assert outcome(docs, doc(elsewhere)) == "Deny"
    here = issuer.token("rita", extra={"acr": "mfa", "sites": ["zurich"]}, now=clock())
    assert outcome(docs, doc(here)) == "Allow"


def test_a_required_attribute_inside_an_optional_record_is_required_when_it_is_there(
    docs: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    without = issuer.token(
        "rita", extra={"acr": "mfa", "sites": ["zurich"], "profile": {}}, now=clock()
    )
    with pytest.raises(InvalidToken, match=r"'profile\.region' is required"):
        docs.verify(without)
    # No profile at all: it is optional.
    assert (
        outcome(
            docs, doc(issuer.token("rita", extra={"acr": "mfa", "sites": ["zurich"]}, now=clock()))
        )
        == "Allow"
    )


def test_a_user_the_file_holds_is_decided_as_the_file_has_it(
    docs: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    filed = issuer.token("filed", extra={"acr": "mfa"}, now=clock())
    assert outcome(docs, doc(filed)) == "Deny"  # the file's sites: geneva only


def test_a_token_record_without_a_required_claim_is_refused_where_policies_read_it(
    docs: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    no_acr = issuer.token("rita", extra={"sites": ["zurich"]}, now=clock())
    assert outcome(docs, inbox(no_acr)) == "401"
    low = issuer.token("rita", extra={"sites": ["zurich"], "acr": "pwd"}, now=clock())
    assert outcome(docs, inbox(low)) == "Deny"
    mfa = issuer.token("rita", extra={"sites": ["zurich"], "acr": "mfa"}, now=clock())
    assert outcome(docs, inbox(mfa)) == "Allow"


def test_a_claim_another_token_level_route_requires_refuses_only_that_route(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """`/a`'s token type requires `email`; `/b` reads no claim. A token without `email` was a
    401 on `/b` too: the batch built every token-level route's token record."""
    mail = fresh_app(
        tmp_path,
        issuer,
        jwks_server.url,
        clock,
        "namespace Mail { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  action "get /a" appliesTo { principal: User, resource: Application,\n'
        '    context: { "token": { "email": String } } };\n'
        '  action "get /b" appliesTo { principal: User, resource: Application }; }',
        '@id("a") permit (principal, action == Mail::Action::"get /a", resource)\n'
        'when { context.token.email like "*@example.com" };\n'
        '@id("b") permit (principal, action == Mail::Action::"get /b", resource);\n',
    )
    no_email = issuer.token("u1", now=clock())
    for _ in range(2):  # decided, then again (nothing cached makes /a's refusal a 403)
        assert outcome(mail, get(no_email, "/b", "/b")) == "Allow"
        assert outcome(mail, get(no_email, "/a", "/a")) == "401"
    with_email = issuer.token("u2", extra={"email": "u2@example.com"}, now=clock())
    assert outcome(mail, get(with_email, "/a", "/a")) == "Allow"
    assert outcome(mail, get(with_email, "/b", "/b")) == "Allow"
