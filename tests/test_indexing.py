"""Policy indexing changes no decision: the same requests, evaluated against every policy and
against only the policies whose scopes can match, give the same decision, the same determining
policies and the same errors (a request the index denies without Cedar, "no candidate permit",
is one Cedar denies). tests/test_index_equivalence.py generates stores of every scope form."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from authorizer.cedar.analysis import context_reads
from authorizer.cedar.engine import NO_CANDIDATE_PERMIT, Decision, Engine
from authorizer.cedar.index import ANY, action_keys, entity_keys, request_action_keys, scope_key
from authorizer.cedar.policies import load_policies
from authorizer.cedar.schema import model_from_json
from authorizer.cedar.schema_text import cedarschema_to_json
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import SAMPLE_USERS, split_profile
from tests.conftest import ROOT

ACTIONS = ["a1", "a2", "a3", "a4", "a5", "a6"]
SCHEMA = """
namespace T {
  entity U = { "n": Long };
  entity R = { "owner": U };
  type Ctx = { "x": Long, "token": { "s": String } };
  action g1;
  action g2 in [g1];
  action a1, a3 in [g2] appliesTo { principal: U, resource: R, context: Ctx };
  action a2 in [g1] appliesTo { principal: U, resource: R, context: Ctx };
  action a4, a5, a6 appliesTo { principal: U, resource: R, context: Ctx };
}
"""


def random_policy(rng: random.Random, index: int) -> str:
    effect = rng.choice(["permit", "permit", "permit", "permit", "forbid"])
    scope = rng.choice(
        [
            "action",
            f'action == T::Action::"{rng.choice(ACTIONS)}"',
            f'action in [T::Action::"{rng.choice(ACTIONS)}", T::Action::"{rng.choice(ACTIONS)}"]',
            f'action in T::Action::"{rng.choice(["g1", "g2"])}"',
        ]
    )
    condition = rng.choice(
        [
            f"principal.n > {rng.randint(0, 5)}",
            f"context.x == {rng.randint(0, 3)}",
            'context.token.s == "yes"',
            "principal.n * 4611686018427387904 > 0",  # an overflow error when n >= 2
            "resource.owner == principal",
        ]
    )
    return f'@id("p{index}")\n{effect} (principal, {scope}, resource) when {{ {condition} }};\n'


@pytest.mark.parametrize("seed", range(10))
def test_indexing_changes_no_decision_on_generated_policies(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    (tmp_path / "p.cedar").write_text("".join(random_policy(rng, i) for i in range(60)))
    schema = model_from_json(cedarschema_to_json(SCHEMA), SCHEMA)
    entities = json.dumps(
        [
            {"uid": {"type": "T::U", "id": f"u{n}"}, "attrs": {"n": n}, "parents": []}
            for n in range(4)
        ]
        + [
            {
                "uid": {"type": "T::R", "id": f"r{n}"},
                "attrs": {"owner": {"__entity": {"type": "T::U", "id": f"u{n}"}}},
                "parents": [],
            }
            for n in range(4)
        ]
    )
    policies = load_policies(tmp_path)
    indexed = Engine(policies, schema, entities, indexed=True)
    full = Engine(policies, schema, entities, indexed=False)
    requests = [
        {"principal": {"type": "T::U", "id": f"u{u}"}, "action": {"type": "T::Action", "id": a},
         "resource": {"type": "T::R", "id": f"r{r}"}, "context": {"x": x, "token": {"s": s}}}
        for u, a, r, x, s in itertools.product(range(4), ACTIONS, range(4), range(3), ["yes", "no"])
    ]  # fmt: skip
    assert len(requests) == 576
    differences, seen = [], set()
    for request in requests:
        one, other = indexed.decide(request, indexed.entities), full.decide(request, full.entities)
        seen.update({one.decision, "errors" if one.errors else "clean"})
        if (one.decision, set(one.determining), set(one.errors)) != (
            other.decision, set(other.determining), set(other.errors)
        ):  # fmt: skip
            differences.append((request, one, other))
    assert differences == []
    assert {"Allow", "Deny", "errors", "clean"} <= seen  # the comparison covered every kind
    assert any(len(indexed.policies_for(frozenset({("T::Action", a)}))) < 60 for a in ACTIONS)


def test_an_action_scoped_to_no_principal_or_resource_needs_no_entity_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its candidates are the same for every request: no handle's edges are read for it. An
    action with one scoped policy, its own or its group's, is looked up by the entities."""
    (tmp_path / "p.cedar").write_text(
        '@id("open")\npermit (principal, action == T::Action::"a4", resource) when { true };\n'
        '@id("one")\npermit (principal == T::U::"u1", action == T::Action::"a5", resource);\n'
        '@id("group")\nforbid (principal, action in T::Action::"g1", resource == T::R::"r9");\n'
    )
    schema = model_from_json(cedarschema_to_json(SCHEMA), SCHEMA)
    users = [{"uid": {"type": "T::U", "id": f"u{n}"}, "attrs": {"n": n}, "parents": []}
             for n in range(2)]  # fmt: skip
    engine = Engine(load_policies(tmp_path), schema, json.dumps(users), indexed=True,
                    deny_without_permit=True)  # fmt: skip
    index = engine.index
    keys = {a: engine._keys_of_action(("T::Action", a)) for a in ("a4", "a5", "a1")}
    assert index.unscoped(keys["a4"]) is not None  # one bucket, scoped to no one
    assert index.unscoped(keys["a5"]) is None  # `principal == T::U::"u1"`
    assert index.unscoped(keys["a1"]) is None  # via its group g1: `resource == T::R::"r9"`

    def request(action: str, user: str) -> dict[str, Any]:
        return {"principal": {"type": "T::U", "id": user},
                "action": {"type": "T::Action", "id": action},
                "resource": {"type": "T::R", "id": "r1"}, "context": {"x": 0, "token": {"s": ""}}}  # fmt: skip

    handle = engine.entities_with(users)
    assert [d.decision for d in engine.decide_batch([request("a4", "u0")], handle)] == ["Allow"]
    assert engine.decide(request("a5", "u1"), handle).allowed  # read through the edges
    read: list[object] = []
    monkeypatch.setattr(engine, "_ancestry", read.append)  # and answers None: not known
    assert engine.decide(request("a4", "u1"), handle).allowed
    assert read == []  # the unscoped action never asked for the handle's edges
    assert not engine.decide(request("a5", "u0"), handle).allowed  # asked: unknown, all buckets
    assert read == [handle]


def test_indexing_changes_no_decision_on_the_sample_app(issuer: LocalIssuer) -> None:
    """Every sample user x every action x every resource x network/time contexts."""
    env = {
        "AUTH_ISSUER": issuer.issuer, "AUTH_CLIENT_IDS": issuer.client_id,
        "CEDAR_POLICY_DIR": str(ROOT / "policies"), "CEDAR_SCHEMA": str(ROOT / "schemas" / "corp.cedarschema"),
        "CEDAR_ENTITIES": str(ROOT / "entities" / "corp.json"), "ENTITY_ID_PREFIX": "",
    }  # fmt: skip
    authz = Authorizer.from_env(env)
    full = Engine(authz.engine.policies, authz.engine.model, (ROOT / "entities" / "corp.json").read_text(),
                  indexed=False)  # fmt: skip
    entities = json.loads((ROOT / "entities" / "corp.json").read_text())
    resources = [e["uid"] for e in entities if e["uid"]["type"] != "Corp::UserGroup"]
    resources.append(authz.mapping.application)
    assert authz.engine.model is not None
    compared = shortcut = 0
    for name in SAMPLE_USERS:
        groups, profile = split_profile(name)
        claims = issuer.claims(name, groups=groups, extra=profile, now=1_795_000_000)
        entities_for_user = authz.engine.entities_with(authz.mapping.principal_entities(claims))
        for action, resource, ip, hour, amount in itertools.product(
            authz.engine.model.actions, resources, ["10.0.0.1", "8.8.8.8"], [3, 10], [10, 100_000]
        ):
            context: dict[str, Any] = {
                "token": {"scope": ["employee:read"], "client_id": issuer.client_id},
                "request": {"method": "GET", "path": "/", "route": "/",
                            "sourceIp": {"__extn": {"fn": "ip", "arg": ip}},
                            "time": {"__extn": {"fn": "datetime", "arg": f"2026-11-18T{hour:02d}:00:00Z"}}},
                "amount": amount,
            }  # fmt: skip
            request = {"principal": authz.mapping.principal_uid(claims),
                       "action": {"type": action.type, "id": action.id}, "resource": resource,
                       "context": context}  # fmt: skip
            one = authz.engine.decide(request, entities_for_user)
            other = full.decide(request, entities_for_user)
            assert same(one, other), request
            compared += 1
            shortcut += one.reason == NO_CANDIDATE_PERMIT
    assert compared > 4000
    assert 0 < shortcut < compared  # both kinds were compared


def same(indexed: Decision, full: Decision) -> bool:
    if indexed.reason == NO_CANDIDATE_PERMIT:
        return full.decision == "Deny" and not indexed.allowed
    return (indexed.decision, set(indexed.determining), set(indexed.errors)) == (
        full.decision, set(full.determining), set(full.errors)
    )  # fmt: skip


def test_scope_keys() -> None:
    """Cedar's scope semantics as index keys: a scope's key is among an entity's keys exactly
    when the scope matches the entity."""
    user, group, parent = ("T::U", "u1"), ("T::G", "g1"), ("T::G", "g0")
    keys = entity_keys(user, [group, parent])
    matching = [
        {"op": "All"},
        {"op": "==", "entity": {"type": "T::U", "id": "u1"}},
        {"op": "in", "entity": {"type": "T::U", "id": "u1"}},  # `in` holds for the entity itself
        {"op": "in", "entity": {"type": "T::G", "id": "g0"}},  # and for every ancestor
        {"op": "is", "entity_type": "T::U"},
        {"op": "is", "entity_type": "T::U", "in": {"entity": {"type": "T::G", "id": "g1"}}},
        {"op": "==", "slot": "?principal"},  # an unlinked slot: always a candidate
        {"op": "something-new"},
    ]
    assert all(scope_key(scope) in keys for scope in matching)
    not_matching = [
        {"op": "==", "entity": {"type": "T::G", "id": "g1"}},  # `==` is not `in`
        {"op": "in", "entity": {"type": "T::G", "id": "g9"}},
        {"op": "is", "entity_type": "T::G"},
        {"op": "is", "entity_type": "T::G", "in": {"entity": {"type": "T::G", "id": "g1"}}},
        {"op": "is", "entity_type": "T::U", "in": {"entity": {"type": "T::G", "id": "g9"}}},
    ]
    assert not any(scope_key(scope) in keys for scope in not_matching)


def test_action_keys() -> None:
    a1 = ("T::Action", "a1")
    requested = set(request_action_keys(a1, [("T::Action", "g2"), ("T::Action", "g1")]))

    def matches(scope: dict[str, Any], groups_known: bool = True) -> bool:
        return bool(requested.intersection(action_keys(scope, groups_known)))

    def action(name: str) -> dict[str, str]:
        return {"type": "T::Action", "id": name}

    assert matches({"op": "All"})
    assert matches({"op": "==", "entity": action("a1")})
    assert not matches({"op": "==", "entity": action("a2")})
    assert not matches({"op": "==", "entity": action("g1")})  # `==` a group is not `in` it
    assert matches({"op": "in", "entity": action("g1")})
    assert matches({"op": "in", "entities": [action("a2"), action("a1")]})
    assert not matches({"op": "in", "entities": [action("a2"), action("g9")]})
    # Without a schema the groups are unknown: every `action in` is a candidate.
    assert action_keys({"op": "in", "entity": action("g9")}, groups_known=False) == [ANY]
    assert matches({"op": "something-new"})


@pytest.mark.parametrize(
    ("condition", "reads"),
    [
        ("true", frozenset()),
        ('context.token.scope.contains("x")', frozenset({"token"})),
        ("context has token && context.token has scope", frozenset({"token"})),
        ('context.request.method == "GET"', frozenset({"request"})),
        ('context["request"].method == "GET"', frozenset({"request"})),
        ("context has amount", frozenset({"amount"})),
        ("context == {}", None),
        # The request's query, read or not: a parameter given twice is refused only if it is.
        ('context.request.query.tag == "a"', frozenset({"request", "request.query"})),
        ("context.request has query", frozenset({"request", "request.query"})),
        ('context.request["query"] has tag', frozenset({"request", "request.query"})),
        ("context.request == {}", frozenset({"request", "request.query", "request.sourceIp"})),
        ('context.request.time > datetime("2024-01-01")', frozenset({"request"})),
        # The source address, read or not: a TOKEN event carries none.
        ("context.request has sourceIp", frozenset({"request", "request.sourceIp"})),
        (
            'context.request.sourceIp.isInRange(ip("10.0.0.0/8"))',
            frozenset({"request", "request.sourceIp"}),
        ),
    ],
)
def test_context_reads(condition: str, reads: frozenset[str] | None) -> None:
    policy = json.loads(
        cedarpy.policies_to_json_str(f"permit(principal, action, resource) when {{ {condition} }};")
    )
    body = policy["staticPolicies"]["policy0"]
    assert context_reads(body) == reads
