"""A JSON entity file given to Cedar a slice per request decides exactly as the whole file does.

Generated worlds (groups in groups, documents with owners, references and tags, users in the
file and users only in the token, contexts holding entities) and generated policies that read
through every kind of path (attribute chains, ``has``, tags, ``in``, ``is ... in``,
``if``/``then``/``else``, record literals, entity literals, the context) are decided twice: with
the whole file plus the caller's entities (what the engine did before), and with the slice
``FileSlices`` builds. Decision, determining policies and errors must be identical.
"""

from __future__ import annotations

import json
import random
from typing import Any

import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.stores.file_slices import FileSlices, reach
from authorizer.stores.store import JsonFileStore

GROUPS, DOCS, USERS = 6, 6, 4


def uid(kind: str, number: int) -> dict[str, str]:
    return {"type": kind, "id": f"{kind.lower()}{number}"}


def ref(kind: str, number: int) -> dict[str, Any]:
    return {"__entity": uid(kind, number)}


def some_ref(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice("GDU")
    return ref(kind, rng.randrange({"G": GROUPS, "D": DOCS, "U": USERS + 2}[kind]))


def attrs(rng: random.Random) -> dict[str, Any]:
    found: dict[str, Any] = {"n": rng.randrange(4)}
    for name in ("ref", "owner"):
        if rng.random() < 0.7:
            found[name] = some_ref(rng)
    return found


def world(rng: random.Random) -> list[dict[str, Any]]:
    """Groups form a DAG (a group's parents come before it); documents and users sit in groups;
    users u4 and u5 are absent (only in tokens)."""
    entities = []
    for n in range(GROUPS):
        parents = [uid("G", p) for p in range(n) if rng.random() < 0.35]
        entities.append({"uid": uid("G", n), "attrs": attrs(rng), "parents": parents})
    for kind, count in (("D", DOCS), ("U", USERS)):
        for n in range(count):
            parents = [uid("G", g) for g in range(GROUPS) if rng.random() < 0.25]
            entity = {"uid": uid(kind, n), "attrs": attrs(rng), "parents": parents}
            if kind == "D" and rng.random() < 0.6:
                entity["tags"] = {"t": some_ref(rng)}
            entities.append(entity)
    return entities


def entity_expression(rng: random.Random, depth: int) -> str:
    roots = ["principal", "resource", "context.doc", 'G::"g1"', 'D::"d2"', 'U::"u0"']
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(roots)
    inner = entity_expression(rng, depth - 1)
    return rng.choice([
        f"{inner}.ref",
        f"{inner}.owner",
        f'{inner}.getTag("t")',
        f"(if {condition(rng, depth - 1)} then {inner} else {entity_expression(rng, depth - 1)})",
        f"{{a: {inner}}}.a",
    ])  # fmt: skip


def condition(rng: random.Random, depth: int) -> str:
    left = entity_expression(rng, depth)
    right = entity_expression(rng, max(depth - 1, 0))
    choices = [
        f"{left} has ref",
        f"{left}.n == {rng.randrange(4)}",
        f"{left} in {right}",
        f"{left} is G in {right}",
        f'{left}.hasTag("t")',
        f"principal in {right}",
        f"resource in {right}",
    ]
    if depth > 0:
        choices += [
            f"({condition(rng, depth - 1)} && {condition(rng, depth - 1)})",
            f"!({condition(rng, depth - 1)})",
        ]
    return rng.choice(choices)


def policies(rng: random.Random) -> str:
    return "\n".join(
        f'@id("p{n}")\n{rng.choice(["permit", "permit", "forbid"])} '
        f"(principal, action, resource) when {{ {condition(rng, 3)} }};"
        for n in range(rng.randrange(1, 5))
    )


def caller(rng: random.Random) -> list[dict[str, Any]]:
    """The principal as a token makes it (u0-u5: the file's version wins for u0-u3), and its
    groups (one the file lacks)."""
    groups = [uid("G", g) for g in range(GROUPS + 1) if rng.random() < 0.3]
    principal = {"uid": uid("U", rng.randrange(USERS + 2)), "attrs": attrs(rng), "parents": groups}
    return [principal, *({"uid": g, "attrs": {}, "parents": []} for g in groups)]


def decided(result: cedarpy.AuthzResult) -> tuple[str, list[str], list[str]]:
    errors = sorted(str(e) for e in result.diagnostics.errors)
    return result.decision.value, sorted(result.diagnostics.reasons), errors


@settings(max_examples=250, deadline=None)
@given(st.integers(0, 2**32))
def test_a_slice_decides_as_the_whole_file(seed: int) -> None:
    rng = random.Random(seed)
    entities = world(rng)
    text = json.dumps(entities)
    store = JsonFileStore(text, None)
    policy_text = policies(rng)
    policy_set = cedarpy.PolicySet.from_str(policy_text)
    document = json.loads(cedarpy.policies_to_json_str(policy_text))
    slices = FileSlices(store, None, document, context_entities=True)
    for _ in range(4):
        extra = caller(rng)
        fresh = [e for e in extra if (e["uid"]["type"], e["uid"]["id"]) not in store.known_uids]
        whole = store.preloaded.with_added_json_str(json.dumps(fresh)) if fresh else store.preloaded
        part = slices.principal(extra)
        for _ in range(3):
            resource = uid("D", rng.randrange(DOCS + 1))  # d6 is absent
            context = {"doc": ref("D", rng.randrange(DOCS)), "x": 1}
            request = {"principal": extra[0]["uid"], "action": {"type": "Action", "id": "a"},
                       "resource": resource, "context": context}  # fmt: skip
            found = slices.entity_set(part, [resource], [context])
            assert found is not None
            expected = decided(cedarpy.is_authorized(request, policy_set, whole))
            got = decided(cedarpy.is_authorized(request, policy_set, found.handle))
            assert got == expected, (policy_text, request)


def test_reach_counts_hops_from_each_root() -> None:
    text = (
        "permit (principal, action, resource) when {"
        ' resource.group has hrGroup && principal in resource.owner.team && G::"g1".n == 1 &&'
        " (if context.flag then resource.a else principal.b).c.d == 2 &&"
        ' {k: principal}.k.e == 3 && resource.getTag("t").u == 4 &&'
        ' principal in G::"g2" };'
    )
    found = reach(json.loads(cedarpy.policies_to_json_str(text)))
    # resource.owner.team: `in` reads team's ancestors, two hops from resource; the `if` reads
    # `.c` of resource.a / principal.b (one hop) and `.d` of that (two hops).
    assert found.variables == {"resource": 2, "principal": 2, "context": 0}
    assert found.literals == {("G", "g1"): 0}  # g2 is only the right side of `in`


def test_without_a_context_the_policies_read_entities_through_it_is_not_sliced() -> None:
    store = JsonFileStore(json.dumps(world(random.Random(1))), None)
    document = json.loads(cedarpy.policies_to_json_str(
        "permit (principal, action, resource) when { context.doc.n == 1 };"
    ))  # fmt: skip
    slices = FileSlices(store, None, document, context_entities=True)
    part = slices.principal([{"uid": uid("U", 5), "attrs": {}, "parents": []}])
    assert slices.entity_set(part, [uid("D", 1)], None) is None
    assert slices.entity_set(part, [uid("D", 1)], [{"doc": ref("D", 2)}]) is not None
    # A schema that declares no entity in any context: the context is not followed at all.
    plain = FileSlices(store, None, document, context_entities=False)
    assert plain.entity_set(plain.principal([]), [uid("D", 1)], None) is not None


@pytest.mark.parametrize("count", [1, 200])
def test_a_caller_part_holds_its_slice_not_the_file(count: int) -> None:
    """The caller part is the principal and its groups (with their ancestors), whatever the
    size of the file: what a cached caller keeps does not grow with the store."""
    entities: list[dict[str, Any]] = [{"uid": uid("G", 0), "attrs": {}, "parents": []}]
    entities += [{"uid": uid("D", n), "attrs": {"n": n}, "parents": [uid("G", 0)]}
                 for n in range(count)]  # fmt: skip
    store = JsonFileStore(json.dumps(entities), None)
    document = json.loads(cedarpy.policies_to_json_str(
        "permit (principal, action, resource) when { principal in resource };"
    ))  # fmt: skip
    slices = FileSlices(store, None, document, context_entities=False)
    part = slices.principal([{"uid": uid("U", 9), "attrs": {}, "parents": [uid("G", 0)]}])
    assert [key for key, _ in part.stored] == [("G", "g0")]
    assert [e["uid"] for e in part.fresh] == [uid("U", 9)]
    handle = slices.entity_set(part, [uid("D", 3 % count)]).handle  # type: ignore[union-attr]
    assert len(handle) == 3  # the document, its group, the user
