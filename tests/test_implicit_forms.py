"""Cedar's implicit JSON forms, which only the schema reads: an entity reference written
`{"type": .., "id": ..}`, an ip or a decimal as text. The entity file is read with the schema at
start, and its entities' texts were later added to a request's entities without it: a reference
became a record, and `principal.mgr == principal` was false past a forbid. A small application
of its own (namespace ``Zoo``), real RS256 tokens and a real JWKS over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from authorizer import Authorizer as Backend
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import fresh_app, outcome

SCHEMA = """
namespace Zoo {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup] = { "mgr"?: User };
  entity Cage = { "banned": Set<User>, "net"?: ipaddr };
  action "get /cages/{cageId}" appliesTo { principal: User, resource: Cage };
}
"""
POLICIES = """
@id("all") permit (principal, action, resource);
@id("self-managed") forbid (principal, action, resource)
when { principal has mgr && principal.mgr == principal };
@id("banned") forbid (principal, action, resource) when { resource.banned.contains(principal) };
"""
ALICE = {"type": "Zoo::User", "id": "alice"}
ENTITIES: list[dict[str, Any]] = [
    {"uid": ALICE, "attrs": {"mgr": ALICE}, "parents": []},  # implicit: no __entity
    {"uid": {"type": "Zoo::Cage", "id": "c1"}, "attrs": {"banned": []}, "parents": []},
    {"uid": {"type": "Zoo::Cage", "id": "c2"}, "attrs": {"banned": [ALICE]}, "parents": []},
]


def get(token: str, cage: str) -> dict[str, Any]:
    return apigw.rest_request_event(
        "GET", f"/cages/{cage}", "/cages/{cageId}", headers={"Authorization": f"Bearer {token}"}
    )


def test_the_files_own_principal_is_read_with_the_schema(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    zoo = fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES, ENTITIES)
    assert outcome(zoo, get(issuer.token("alice", now=clock()), "c1")) == "Deny"  # self-managed
    assert outcome(zoo, get(issuer.token("bob", now=clock()), "c1")) == "Allow"  # the control
    assert outcome(zoo, get(issuer.token("bob", now=clock()), "c2")) == "Allow"


def test_entities_a_backend_loaded_are_read_with_the_schema_or_refused(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    zoo = fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES, ENTITIES[1:],
                    kind=Backend)  # fmt: skip
    bob = issuer.token("bob", now=clock())
    cage = {"uid": {"type": "Zoo::Cage", "id": "c9"}, "attrs": {"banned": [{"type": "Zoo::User",
            "id": "bob"}]}, "parents": []}  # fmt: skip
    decision = zoo.authorize_token(bob, "get /cages/{cageId}", None, resource_entity=cage)
    assert not decision.allowed and decision.determining == ("banned",)
    # A principal the backend loaded is added as the caller's own entity: the forms only the
    # schema reads are refused in it, with the reason.
    refused = zoo.is_authorized(
        ENTITIES[0], "get /cages/{cageId}", {"type": "Zoo::Cage", "id": "c1"}
    )
    assert not refused.allowed and "__entity" in refused.errors[0]
    explicit = {**ENTITIES[0], "attrs": {"mgr": {"__entity": ALICE}}}
    decided = zoo.is_authorized(explicit, "get /cages/{cageId}", {"type": "Zoo::Cage", "id": "c1"})
    assert not decided.allowed and decided.determining == ("self-managed",)


def test_token_groups_lacking_what_the_schema_requires_of_groups_still_decide(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """The file's texts are read with the schema; a token's group the file does not hold has
    no attributes, which the schema requires of groups here: read apart, without it."""
    schema = SCHEMA.replace("entity UserGroup;", 'entity UserGroup = { "level": Long };')
    groups: list[dict[str, Any]] = [
        {"uid": {"type": "Zoo::UserGroup", "id": "keepers"}, "attrs": {"level": 2}, "parents": []}
    ]
    zoo = fresh_app(tmp_path, issuer, jwks_server.url, clock, schema, POLICIES,
                    [*ENTITIES, *groups])  # fmt: skip
    token = issuer.token("carol", groups=["keepers", "visitors"], now=clock())
    assert outcome(zoo, get(token, "c1")) == "Allow"
    assert outcome(zoo, get(issuer.token("alice", groups=["visitors"], now=clock()), "c1")) == (
        "Deny"  # alice's own file text, read with the schema: self-managed
    )
