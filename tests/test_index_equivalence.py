"""The policy index changes no decision (a property, hypothesis): generated policy stores (every
scope form Cedar has: unscoped, ``==``, ``in``, ``is``, ``is ... in``, action groups and action
lists, ``when``/``unless`` bodies including ones that error, templates linked on either slot)
and generated entity stores (nested groups, nested folders), then thousands of requests by
principals of the store and new ones from a token (their groups known or not), about resources
with parents or unknown, decided by the indexed engine and by Cedar over every policy.

Same decision every time; the same determining policies and errors whenever Cedar was asked; a
request denied without Cedar ("no candidate permit") is one Cedar denies too."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import cedarpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.cedar.engine import NO_CANDIDATE_PERMIT, Decision, Engine
from authorizer.cedar.links import TemplateLink, link_templates
from authorizer.cedar.policies import load_policies
from authorizer.cedar.schema import model_from_json
from authorizer.cedar.schema_text import cedarschema_to_json

SCHEMA = """
namespace T {
  entity G in [G] = { "n": Long };
  entity U in [G] = { "n": Long };
  entity V in [G] = { "n": Long };
  entity F in [F];
  entity R in [F, R, U] = { "owner": U, "n": Long };
  entity S in [F];
  type Ctx = { "x": Long };
  action ag1;
  action ag2 in [ag1];
  action a1, a2 in [ag2] appliesTo { principal: [U, V, G], resource: [R, S], context: Ctx };
  action a3 in [ag1] appliesTo { principal: [U, V, G], resource: [R, S], context: Ctx };
  action a4, a5 appliesTo { principal: [U, V, G], resource: [R, S], context: Ctx };
}
"""
ACTIONS = ["a1", "a2", "a3", "a4", "a5"]
GROUPS, USERS, FOLDERS, RECORDS = 6, 6, 5, 6
MODEL = model_from_json(cedarschema_to_json(SCHEMA), SCHEMA)


def uid(kind: str, ident: str) -> dict[str, str]:
    return {"type": f"T::{kind}", "id": ident}


def text(kind: str, ident: str) -> str:
    return f'T::{kind}::"{ident}"'


# --- policies -----------------------------------------------------------------------------

principal_scopes = st.one_of(
    st.just("principal"),
    st.builds(lambda i: f"principal == {text('U', f'u{i}')}", st.integers(0, USERS)),
    st.builds(lambda i: f"principal == {text('G', f'g{i}')}", st.integers(0, GROUPS)),
    st.builds(lambda i: f"principal in {text('G', f'g{i}')}", st.integers(0, GROUPS)),
    st.builds(lambda i: f"principal in {text('U', f'u{i}')}", st.integers(0, USERS)),
    st.sampled_from(["principal is T::U", "principal is T::V", "principal is T::G"]),
    st.builds(
        lambda k, i: f"principal is T::{k} in {text('G', f'g{i}')}",
        st.sampled_from("UVG"),
        st.integers(0, GROUPS),
    ),
)
resource_scopes = st.one_of(
    st.just("resource"),
    st.builds(lambda i: f"resource == {text('R', f'r{i}')}", st.integers(0, RECORDS)),
    st.builds(lambda i: f"resource in {text('F', f'f{i}')}", st.integers(0, FOLDERS)),
    st.builds(lambda i: f"resource in {text('R', f'r{i}')}", st.integers(0, RECORDS)),
    # Above a record through the token-only user: its token's groups.
    st.builds(lambda i: f"resource in {text('G', f'g{i}')}", st.integers(0, GROUPS + 1)),
    st.just(f"resource in {text('U', f'u{USERS - 1}')}"),
    st.sampled_from(["resource is T::R", "resource is T::S"]),
    st.builds(lambda i: f"resource is T::R in {text('F', f'f{i}')}", st.integers(0, FOLDERS)),
)
action_scopes = st.one_of(
    st.just("action"),
    st.builds(lambda a: f'action == T::Action::"{a}"', st.sampled_from(ACTIONS)),
    st.builds(
        lambda a, b: f'action in [T::Action::"{a}", T::Action::"{b}"]',
        st.sampled_from([*ACTIONS, "ag2"]),
        st.sampled_from(ACTIONS),
    ),
    st.builds(lambda g: f'action in T::Action::"{g}"', st.sampled_from(["ag1", "ag2"])),
)
conditions = st.one_of(
    st.just(""),
    st.builds(lambda k: f" when {{ principal.n > {k} }}", st.integers(0, 4)),
    st.builds(lambda k: f" unless {{ context.x == {k} }}", st.integers(0, 2)),
    st.builds(lambda i: f" when {{ principal in {text('G', f'g{i}')} }}", st.integers(0, GROUPS)),
    st.just(" when { resource has owner && resource.owner == principal }"),
    st.just(" when { principal.n * 4611686018427387904 > 0 }"),  # an overflow error when n >= 2
    st.just(' unless { action == T::Action::"a2" }'),
)
static_policies = st.builds(
    lambda effect, p, a, r, c: f"{effect} ({p}, {a}, {r}){c};",
    st.sampled_from(["permit", "permit", "forbid"]),
    principal_scopes, action_scopes, resource_scopes, conditions,
)  # fmt: skip
TEMPLATES = [
    "permit (principal == ?principal, action, resource in ?resource) when { context.x > 0 };",
    'permit (principal in ?principal, action in T::Action::"ag2", resource);',
    'forbid (principal is T::U in ?principal, action == T::Action::"a4", resource);',
    'permit (principal, action == T::Action::"a5", resource is T::R in ?resource);',
]


def links(rng: random.Random, count: int) -> list[TemplateLink]:
    found = []
    for n in range(count):
        template = rng.randrange(len(TEMPLATES))
        values: dict[str, Any] = {}
        if "?principal" in TEMPLATES[template]:
            kind = rng.choice(["U", "G"])
            values["?principal"] = uid(kind, f"{kind.lower()}{rng.randrange(GROUPS)}")
        if "?resource" in TEMPLATES[template]:
            kind, size = rng.choice([("F", FOLDERS), ("R", RECORDS)])
            values["?resource"] = uid(kind, f"{kind.lower()}{rng.randrange(size)}")
        found.append(TemplateLink(f"t{template}", f"link{n}", values, 0))
    return found


# --- entities -------------------------------------------------------------------------------


def store(rng: random.Random) -> list[dict[str, Any]]:
    """Groups and folders nest (a parent has a larger number: no cycle); users are in groups,
    records in folders, in other records and some under the user only tokens bring (so a
    record's ancestors can come through the caller's own entities)."""

    def some(kind: str, below: int, size: int) -> list[dict[str, str]]:
        return [uid(kind, f"{kind.lower()}{i}") for i in range(below, size) if rng.random() < 0.3]

    entities: list[dict[str, Any]] = []
    for i in range(GROUPS):
        entities.append({"uid": uid("G", f"g{i}"), "attrs": {"n": i},
                         "parents": some("G", i + 1, GROUPS)})  # fmt: skip
    for i in range(USERS - 1):  # u<USERS-1> is not in the store: it comes from tokens only
        entities.append({"uid": uid("U", f"u{i}"), "attrs": {"n": i % 4},
                         "parents": some("G", 0, GROUPS)})  # fmt: skip
    for i in range(FOLDERS):
        entities.append({"uid": uid("F", f"f{i}"), "attrs": {},
                         "parents": some("F", i + 1, FOLDERS)})  # fmt: skip
    for i in range(RECORDS - 1):
        owner = {"__entity": uid("U", f"u{rng.randrange(USERS)}")}
        parents = some("F", 0, FOLDERS) + some("R", i + 1, RECORDS - 1)
        if rng.random() < 0.3:  # under the token-only user: its token's groups are above too
            parents.append(uid("U", f"u{USERS - 1}"))
        entities.append({"uid": uid("R", f"r{i}"), "attrs": {"owner": owner, "n": i},
                         "parents": parents})  # fmt: skip
    entities.append({"uid": uid("S", "s0"), "attrs": {}, "parents": some("F", 0, FOLDERS)})
    return entities


def caller(rng: random.Random) -> list[dict[str, Any]]:
    """A principal and its groups as a token gives them: a user of the store (whose own entry
    wins), a new user or a V, in groups the store has (nested there) or not."""
    kind = rng.choice(["U", "U", "V"])
    ident = f"{kind.lower()}{rng.randrange(USERS + 2)}"
    groups = [uid("G", f"g{rng.randrange(GROUPS + 2)}") for _ in range(rng.randrange(3))]
    principal = {"uid": uid(kind, ident), "attrs": {"n": rng.randrange(4)}, "parents": groups}
    return [principal, *({"uid": g, "attrs": {"n": 0}, "parents": []} for g in groups)]


def resource(rng: random.Random) -> dict[str, str]:
    kind = rng.choice(["R", "R", "R", "S", "F"])
    return uid(kind, f"{kind.lower()}{rng.randrange(RECORDS + 1)}")


# --- the property ----------------------------------------------------------------------------


def same(indexed: Decision, full: Decision) -> bool:
    if indexed.reason == NO_CANDIDATE_PERMIT:
        return full.decision == "Deny" and not full.allowed and not indexed.allowed
    return (indexed.decision, indexed.allowed, set(indexed.determining), set(indexed.errors)) == (
        full.decision, full.allowed, set(full.determining), set(full.errors)
    )  # fmt: skip


def engines(tmp: Path, policies: list[str], rng: random.Random) -> tuple[Engine, Engine]:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    body = [f'@id("p{i}")\n{p}' for i, p in enumerate(policies)]
    body += [f'@id("t{i}")\n{t}' for i, t in enumerate(TEMPLATES)]
    (folder / "all.cedar").write_text("\n".join(body) + "\n")
    loaded = link_templates(load_policies(folder), links(rng, rng.randrange(8)), folder / "l")
    entities = json.dumps(store(rng))
    indexed = Engine(loaded, MODEL, entities, validated=True, deny_without_permit=True)
    full = Engine(loaded, MODEL, entities, validated=True, indexed=False)
    return indexed, full


def handles(engine: Engine, extra: list[dict[str, Any]], target: dict[str, str]) -> list[Any]:
    """The ways a handle reaches the engine: the runtime's (``entity_set``), the store with the
    caller added (``entities_with``), the store alone (a principal of the store), and one made
    outside the engine (read back from Cedar)."""
    outside = cedarpy.Entities.from_json_str(json.dumps([*extra]), engine.schema)
    return [
        engine.entity_set(extra, (target,)).handle,
        engine.entities_with(extra),
        engine.entities,
        outside,
    ]


def check(tmp: Path, policies: list[str], seed: int) -> set[str]:
    """Decide generated requests both ways; the outcomes seen (decisions and index Denies)."""
    rng = random.Random(seed)
    indexed, full = engines(tmp, policies, rng)
    seen: set[str] = set()
    for _ in range(40):
        extra = caller(rng)
        target = resource(rng)
        for entities in handles(indexed, extra, target):
            principal = extra[0]["uid"] if entities is not indexed.entities else uid("U", "u1")
            requests = [
                {"principal": principal, "action": uid("Action", rng.choice(ACTIONS)),
                 "resource": target, "context": {"x": rng.randrange(3)}}
                for _ in range(3)
            ]  # fmt: skip
            ours = indexed.decide_batch(requests, entities)
            theirs = full.decide_batch(requests, entities)
            for request, one, other in zip(requests, ours, theirs, strict=True):
                assert same(one, other), (request, one, other, policies)
                seen.add(one.reason or one.decision)
    return seen


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(policies=st.lists(static_policies, min_size=1, max_size=40), seed=st.integers(0, 2**32))
def test_the_index_decides_as_cedar_over_every_policy(
    tmp_path: Path, policies: list[str], seed: int
) -> None:
    check(tmp_path, policies, seed)


def test_the_comparison_meets_every_outcome(tmp_path: Path) -> None:
    """On a fixed store, the generated requests meet Allows, Cedar's Denies and Denies without
    Cedar: the property above is not vacuous on stores like it."""
    policies = [
        'permit (principal in T::G::"g0", action in T::Action::"ag2", resource);',
        'permit (principal is T::U, action == T::Action::"a3", resource is T::R in T::F::"f1");',
        'permit (principal, action, resource == T::R::"r1") when { principal.n > 1 };',
        'forbid (principal == T::U::"u2", action, resource) unless { context.x == 0 };',
    ]
    seen = set()
    for seed in range(3):
        seen |= check(tmp_path, policies, seed)
    assert {"Allow", "Deny", NO_CANDIDATE_PERMIT} <= seen


def test_a_record_under_the_caller_is_in_the_callers_token_groups(tmp_path: Path) -> None:
    """A stored record whose parent is a user only tokens bring: for Cedar the record is then in
    that user's token groups, so a policy on one of those groups is a candidate for it."""
    (tmp_path / "p.cedar").write_text(
        '@id("by-group")\npermit (principal, action, resource in T::G::"g-token");\n'
    )
    stored = [{"uid": uid("R", "r0"), "attrs": {"owner": {"__entity": uid("U", "u0")}, "n": 1},
               "parents": [uid("U", "only-token")]}]  # fmt: skip
    policies = load_policies(tmp_path)
    indexed = Engine(policies, MODEL, json.dumps(stored), validated=True, deny_without_permit=True)
    full = Engine(policies, MODEL, json.dumps(stored), validated=True, indexed=False)
    caller = [{"uid": uid("U", "only-token"), "attrs": {"n": 0}, "parents": [uid("G", "g-token")]},
              {"uid": uid("G", "g-token"), "attrs": {"n": 0}, "parents": []}]  # fmt: skip
    request = {"principal": uid("U", "only-token"), "action": uid("Action", "a1"),
               "resource": uid("R", "r0"), "context": {"x": 0}}  # fmt: skip
    for entities in (indexed.entity_set(caller, (uid("R", "r0"),)).handle,
                     indexed.entities_with(caller)):  # fmt: skip
        assert full.decide(request, entities).allowed
        assert indexed.decide(request, entities).allowed


def test_a_stored_group_under_an_added_group_reaches_the_added_groups_parents(
    tmp_path: Path,
) -> None:
    """The caller's entities may have parents of their own (a backend's, say): a stored group
    whose parent is one of them is under that entity's parents too."""
    (tmp_path / "p.cedar").write_text(
        '@id("top")\npermit (principal in T::G::"g3", action, resource);\n'
    )
    stored = [{"uid": uid("G", "g1"), "attrs": {"n": 1}, "parents": [uid("G", "g2")]}]
    policies = load_policies(tmp_path)
    indexed = Engine(policies, MODEL, json.dumps(stored), validated=True, deny_without_permit=True)
    full = Engine(policies, MODEL, json.dumps(stored), validated=True, indexed=False)
    caller = [{"uid": uid("U", "new"), "attrs": {"n": 0}, "parents": [uid("G", "g1")]},
              {"uid": uid("G", "g2"), "attrs": {"n": 0}, "parents": [uid("G", "g3")]}]  # fmt: skip
    request = {"principal": uid("U", "new"), "action": uid("Action", "a1"),
               "resource": uid("S", "s0"), "context": {"x": 0}}  # fmt: skip
    for entities in (indexed.entity_set(caller, (uid("S", "s0"),)).handle,
                     indexed.entities_with(caller)):  # fmt: skip
        assert full.decide(request, entities).allowed
        assert indexed.decide(request, entities).allowed
