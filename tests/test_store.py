"""The entity store: pure graph helpers, the TTL cache, the caching store, the JSON-file store,
and the engine over a live store deciding every sample scenario as over the file."""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.cedar.engine import Engine
from authorizer.config import StoreSettings
from authorizer.errors import ConfigError, DependencyError
from authorizer.sdk.client import Authorizer
from authorizer.stores.entity_graph import (
    EntityGraphError,
    HierarchyTooDeep,
    StoredEntity,
    UidKey,
    closure,
    find_cycle,
    parse_uid_text,
    references,
    stored_entity,
    uid_text,
)
from authorizer.stores.store import (
    CachingStore,
    EntityStoreUnavailable,
    JsonFileStore,
    LiveEntities,
    TtlCache,
)
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import ROOT, FakeClock
from tests.entity_tables import CORP, MemoryReader, authorizer_with, user
from tests.helpers import outcome, rest, user_token
from tests.test_sample_app import CASES

G = "Corp::UserGroup"


def group(name: str, *parents: str, **attrs: Any) -> dict[str, Any]:
    return {"uid": {"type": G, "id": name}, "attrs": attrs,
            "parents": [{"type": G, "id": p} for p in parents]}  # fmt: skip


def lookup_of(entities: list[dict[str, Any]], calls: list[list[UidKey]] | None = None) -> Any:
    index = {s.uid: s for s in map(stored_entity, entities)}

    def lookup(uids: Collection[UidKey]) -> tuple[dict[UidKey, StoredEntity | None], float]:
        if calls is not None:
            calls.append(sorted(uids))
        return {u: index.get(u) for u in uids}, 100.0

    return lookup


# --- uids and entities ------------------------------------------------------------------------


@given(st.text(), st.from_regex(r"[A-Z][a-z]{0,5}(::[A-Z][a-z]{0,5}){0,2}", fullmatch=True))
def test_uid_text_round_trips_any_id(ident: str, kind: str) -> None:
    assert parse_uid_text(uid_text((kind, ident))) == (kind, ident)


@pytest.mark.parametrize("text", ["", "Corp::User", 'Corp::User::"a" x', '::"a"', "Corp::User::1"])
def test_bad_uid_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_uid_text(text)


def test_stored_entity_is_canonical_and_knows_its_edges() -> None:
    one = stored_entity({"attrs": {"b": 1, "a": {"__entity": {"id": "x", "type": G}}},
                         "parents": [{"type": G, "id": "p"}, {"type": G, "id": "p"}],
                         "uid": {"type": "Corp::Employee", "id": "e"}})  # fmt: skip
    other = stored_entity({"uid": {"id": "e", "type": "Corp::Employee"}, "parents":
                           [{"id": "p", "type": G}], "attrs": {"a": {"__entity": {"type": G, "id": "x"}}, "b": 1}})  # fmt: skip
    assert one.json == other.json
    assert one.parents == ((G, "p"),)
    assert one.references == ((G, "x"),)
    assert one.document["uid"] == {"type": "Corp::Employee", "id": "e"}


def test_references_are_found_in_sets_and_records_but_not_in_extensions() -> None:
    attrs = {
        "viewers": [
            {"__entity": {"type": "Corp::User", "id": "a"}},
            {"type": "Corp::User", "id": "b"},
        ],
        "nested": {"deep": {"__entity": {"type": G, "id": "g"}}},
        "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}},
        "plain": {"type": "not-an-entity"},
    }
    assert sorted(references(attrs)) == [("Corp::User", "a"), ("Corp::User", "b"), (G, "g")]


@pytest.mark.parametrize(
    "entity",
    [None, [], {"uid": "x"}, {"uid": {"type": G}}, {"uid": {"type": G, "id": "a"}, "attrs": []},
     {"uid": {"type": G, "id": "a"}, "parents": {}}, {"uid": {"type": G, "id": "a"}, "tags": 1},
     {"uid": {"type": G, "id": "a"}, "parents": ["G::\"b\""]}],
)  # fmt: skip
def test_malformed_entities_are_refused(entity: object) -> None:
    with pytest.raises(ValueError):
        stored_entity(entity)


# --- the closure --------------------------------------------------------------------------------


def test_closure_fetches_ancestors_in_rounds_and_references_within_the_budget() -> None:
    calls: list[list[UidKey]] = []
    found = closure(lookup_of(CORP, calls), {("Corp::Employee", "emp-001"): 1})
    # emp-001, then what it references (its group, a viewer; the viewer has no item); the
    # group's hrGroup is named but not fetched.
    assert list(found.entities) == [("Corp::Employee", "emp-001"), (G, "engineering")]
    assert calls == [
        [("Corp::Employee", "emp-001")],
        [("Corp::User", "auditor-0001"), (G, "engineering")],
    ]
    assert found.expires_at == 100.0

    nested = closure(lookup_of(CORP), {(G, "hr-engineering-payroll"): 0})
    assert set(nested.entities) == {(G, "hr-engineering-payroll"), (G, "hr-engineering"), (G, "hr")}
    assert nested.rounds == 3  # one round per level

    deeper = closure(lookup_of(CORP), {("Corp::Employee", "emp-001"): 2})
    assert (G, "hr-engineering") in deeper.entities and (G, "hr") in deeper.entities
    assert (G, "engineering") not in closure(
        lookup_of(CORP), {("Corp::Employee", "emp-001"): 0}
    ).entities


def test_closure_depth_is_bounded_and_fails_closed() -> None:
    chain = [group(f"g{n}", f"g{n + 1}") for n in range(10)] + [group("g10")]
    with pytest.raises(HierarchyTooDeep, match="deeper than 8"):
        closure(lookup_of(chain), {(G, "g0"): 0}, max_depth=8)
    found = closure(lookup_of(chain), {(G, "g2"): 0}, max_depth=8)  # g2 .. g10: 8 edges
    assert len(found.entities) == 9


def test_closure_terminates_on_cycles_and_each_uid_is_fetched_once() -> None:
    calls: list[list[UidKey]] = []
    cyclic = [group("a", "b"), group("b", "c"), group("c", "a")]
    found = closure(lookup_of(cyclic, calls), {(G, "a"): 0})
    assert set(found.entities) == {(G, "a"), (G, "b"), (G, "c")}
    fetched = [uid for batch in calls for uid in batch]
    assert len(fetched) == len(set(fetched)) == 3
    cycle = find_cycle({uid: e.parents for uid, e in found.entities.items()})
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 4


graphs = st.dictionaries(
    st.integers(0, 12), st.lists(st.integers(0, 12), max_size=3), min_size=1, max_size=13
)


def _as_entities(graph: Mapping[int, list[int]]) -> list[dict[str, Any]]:
    return [group(str(n), *map(str, parents)) for n, parents in graph.items()]


@settings(max_examples=200, deadline=None)
@given(graphs, st.integers(0, 12))
def test_closure_is_the_reachable_set_and_fetches_each_uid_once(
    graph: dict[int, list[int]], start: int
) -> None:
    calls: list[list[UidKey]] = []
    found = closure(lookup_of(_as_entities(graph), calls), {(G, str(start)): 0}, max_depth=20)
    reachable, stack = set(), [start] if start in graph else []
    while stack:
        node = stack.pop()
        if node not in reachable and node in graph:
            reachable.add(node)
            stack.extend(graph[node])
    assert set(found.entities) == {(G, str(n)) for n in reachable}
    fetched = [uid for batch in calls for uid in batch]
    assert len(fetched) == len(set(fetched))


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_find_cycle_agrees_with_a_topological_sort(graph: dict[int, list[int]]) -> None:
    parents = {(G, str(n)): [(G, str(p)) for p in ps] for n, ps in graph.items()}
    nodes = set(parents) | {p for ps in parents.values() for p in ps}
    indegree = dict.fromkeys(nodes, 0)
    for ps in parents.values():
        for p in ps:
            indegree[p] += 1
    ready, removed = [n for n, d in indegree.items() if d == 0], 0
    while ready:
        node = ready.pop()
        removed += 1
        for p in parents.get(node, []):
            indegree[p] -= 1
            if indegree[p] == 0:
                ready.append(p)
    cycle = find_cycle(parents)
    assert (cycle is not None) == (removed < len(nodes))
    if cycle is not None:
        assert cycle[0] == cycle[-1]
        assert all(b in parents[a] for a, b in itertools.pairwise(cycle))


LIVE_POLICIES = """
permit (principal, action, resource);
forbid (principal, action, resource) when { resource has home && resource.home in F::Folder::"hr" };
forbid (principal, action, resource) when { context has target && context.target in F::Folder::"hr" };
forbid (principal, action, resource)
when { principal has manager && principal.manager in F::Group::"blocked" };
forbid (principal, action, resource) when { F::Folder::"moved" in F::Folder::"hr" };
"""


def _folder(name: str, *parents: str) -> dict[str, Any]:
    return {"uid": {"type": "F::Folder", "id": name}, "attrs": {},
            "parents": [{"type": "F::Folder", "id": p} for p in parents]}  # fmt: skip


@pytest.mark.parametrize("moved", [False, True])
def test_a_live_store_reads_what_in_reads_through_attributes_the_context_and_literals(
    moved: bool,
) -> None:
    """`resource.home in F::Folder::"hr"` (home two levels under hr), the same through the
    context, through the principal's `manager`, and of a literal: the live store read none of
    those entities' ancestors (it counted only `.` and `has` reads), so each forbid failed to
    hold and the request was allowed. Each is decided here as Cedar decides on the whole store."""
    import cedarpy  # noqa: PLC0415

    stored = [
        _folder("hr"), _folder("hr-sub", "hr"), _folder("deep", "hr-sub"), _folder("open"),
        _folder("locked"), _folder("moved", "hr" if moved else "open"),
        {"uid": {"type": "F::Group", "id": "blocked"}, "attrs": {}, "parents": []},
        {"uid": {"type": "F::Group", "id": "team"}, "attrs": {},
         "parents": [{"type": "F::Group", "id": "blocked"}]},
        {"uid": {"type": "F::Doc", "id": "d1"}, "attrs": {"home": {"__entity": {"type": "F::Folder", "id": "deep"}}}, "parents": []},
        {"uid": {"type": "F::Doc", "id": "d2"}, "attrs": {"home": {"__entity": {"type": "F::Folder", "id": "open"}}}, "parents": []},
    ]  # fmt: skip
    document = json.loads(cedarpy.policies_to_json_str(LIVE_POLICIES))
    live = LiveEntities(CachingStore(MemoryReader(stored)), None, document)

    def user_with(**attrs: Any) -> dict[str, Any]:
        return {"uid": {"type": "F::User", "id": "u"}, "attrs": attrs, "parents": []}

    folder = {"__entity": {"type": "F::Folder", "id": "deep"}}
    cases = [
        (user_with(), {"type": "F::Doc", "id": "d1"}, {}),
        (user_with(), {"type": "F::Doc", "id": "d2"}, {}),
        (user_with(), {"type": "F::Doc", "id": "d2"}, {"target": folder}),
        (user_with(manager={"__entity": {"type": "F::Group", "id": "team"}}),
         {"type": "F::Doc", "id": "d2"}, {}),
    ]  # fmt: skip
    answers = []
    for principal, resource, context in cases:
        request = {"principal": principal["uid"], "action": {"type": "F::Action", "id": "a"},
                   "resource": resource, "context": context}  # fmt: skip
        handle = live.entity_set([principal], [resource], [context]).handle
        sliced = cedarpy.is_authorized(request, LIVE_POLICIES, handle).allowed
        whole = cedarpy.is_authorized(request, LIVE_POLICIES, [*stored, principal]).allowed
        assert sliced == whole, (principal, resource, context)
        answers.append(whole)
    assert answers == ([False, True, False, False] if not moved else [False] * 4)


def test_a_live_store_reads_what_the_callers_token_names_when_another_root_reaches_it() -> None:
    """The caller's team comes from its token; a forbid reads it through the resource's owner
    (the caller), a context target or a literal. The store has no item for the caller, so the
    walk stopped there and the team was never fetched: `has suspended` was false, the forbid
    did not hold."""
    import cedarpy  # noqa: PLC0415

    policies = """
    permit (principal, action, resource);
    forbid (principal, action, resource) when {
      resource.owner has team && resource.owner.team has suspended && resource.owner.team.suspended
    };
    forbid (principal, action, resource) when {
      context has target && context.target has team && context.target.team.suspended
    };
    forbid (principal, action, resource) when {
      F::User::"u" has team && F::User::"u".team has suspended && F::User::"u".team.suspended
    };
    """
    user = {"type": "F::User", "id": "u"}
    stored = [
        {"uid": {"type": "F::Team", "id": "bad"}, "attrs": {"suspended": True}, "parents": []},
        {"uid": {"type": "F::Doc", "id": "mine"}, "attrs": {"owner": {"__entity": user}},
         "parents": []},
        {"uid": {"type": "F::Doc", "id": "other"}, "attrs": {}, "parents": []},
    ]  # fmt: skip
    principal = {"uid": user, "attrs": {"team": {"__entity": {"type": "F::Team", "id": "bad"}}},
                 "parents": []}  # fmt: skip
    for policy in policies.split(";")[1:-1]:
        text = policies.split(";", maxsplit=1)[0] + ";" + policy + ";"
        live = LiveEntities(
            CachingStore(MemoryReader(stored)), None, json.loads(cedarpy.policies_to_json_str(text))
        )
        for resource, context in (({"type": "F::Doc", "id": "mine"}, {}),
                                  ({"type": "F::Doc", "id": "other"}, {"target": {"__entity": user}})):  # fmt: skip
            request = {"principal": user, "action": {"type": "F::Action", "id": "a"},
                       "resource": resource, "context": context}  # fmt: skip
            handle = live.entity_set([principal], [resource], [context]).handle
            sliced = cedarpy.is_authorized(request, text, handle).allowed
            whole = cedarpy.is_authorized(request, text, [*stored, principal]).allowed
            assert sliced == whole, (policy.strip()[:60], resource, context)


def test_a_live_store_reads_a_principal_given_by_uid_as_deep_as_policies_read_it() -> None:
    """The backend library's principal given by UID alone was rooted as a resource: with no
    policy reading the resource's data, `principal.manager.suspended` found no manager."""
    import cedarpy  # noqa: PLC0415

    policies = (
        "permit (principal, action, resource);\n"
        "forbid (principal, action, resource) when { principal has manager && "
        "principal.manager has suspended && principal.manager.suspended };\n"
    )
    user = {"type": "F::User", "id": "u1"}
    stored = [
        {"uid": user, "attrs": {"manager": {"__entity": {"type": "F::User", "id": "m1"}}},
         "parents": []},
        {"uid": {"type": "F::User", "id": "m1"}, "attrs": {"suspended": True}, "parents": []},
        {"uid": {"type": "F::Doc", "id": "d"}, "attrs": {}, "parents": []},
    ]  # fmt: skip
    live = LiveEntities(
        CachingStore(MemoryReader(stored)), None, json.loads(cedarpy.policies_to_json_str(policies))
    )
    resource = {"type": "F::Doc", "id": "d"}
    request = {"principal": user, "action": {"type": "F::Action", "id": "a"},
               "resource": resource, "context": {}}  # fmt: skip
    handle = live.entity_set([], [resource], [], stored_principal=user).handle
    assert not cedarpy.is_authorized(request, policies, stored).allowed
    assert not cedarpy.is_authorized(request, policies, handle).allowed


@pytest.mark.parametrize("edge", ["up", "parent"])
def test_a_live_store_follows_long_chains_and_deep_hierarchies(edge: str) -> None:
    """A chain of 12 `.up` read by a forbid was cut at 8 hops (the forbid did not hold); a
    hierarchy 12 parents deep was a 500 (HierarchyTooDeep at 8)."""
    import cedarpy  # noqa: PLC0415

    depth = 12

    def folder(i: int) -> dict[str, Any]:
        above = {"type": "F::Folder", "id": f"f{i + 1}"}
        attrs: dict[str, Any] = {"locked": True} if i == depth else {}
        if edge == "up" and i < depth:
            attrs["up"] = {"__entity": above}
        parents = [above] if edge == "parent" and i < depth else []
        return {"uid": {"type": "F::Folder", "id": f"f{i}"}, "attrs": attrs, "parents": parents}

    start = {"type": "F::Folder", "id": "f0"}
    doc = {"uid": {"type": "F::Doc", "id": "d"}, "attrs": {"folder": {"__entity": start}},
           "parents": [start] if edge == "parent" else []}  # fmt: skip
    chain = "resource.folder" + ".up" * depth
    if edge == "up":
        forbid = f"when {{ {chain} has locked && {chain}.locked }}"
        scope = "resource"
    else:
        forbid, scope = "", 'resource in F::Folder::"f12"'
    policies = (
        f"permit (principal, action, resource);\nforbid (principal, action, {scope}) {forbid};\n"
    )
    stored = [*(folder(i) for i in range(depth + 1)), doc]
    live = LiveEntities(
        CachingStore(MemoryReader(stored)), None, json.loads(cedarpy.policies_to_json_str(policies))
    )
    user = {"uid": {"type": "F::User", "id": "u"}, "attrs": {}, "parents": []}
    request = {"principal": user["uid"], "action": {"type": "F::Action", "id": "a"},
               "resource": doc["uid"], "context": {}}  # fmt: skip
    handle = live.entity_set([user], [doc["uid"]], [{}]).handle
    assert not cedarpy.is_authorized(request, policies, [*stored, user]).allowed
    assert not cedarpy.is_authorized(request, policies, handle).allowed


# --- the TTL cache and the caching store ---------------------------------------------------------


def test_ttl_cache_expires_bounds_and_invalidates() -> None:
    clock = FakeClock(0)
    cache: TtlCache[str, int] = TtlCache(10, 2, clock)
    assert cache.put("a", 1) == 10
    cache.put("b", 2)
    assert cache.get("a") == (1, 10)  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None and len(cache) == 2  # least recently used out
    clock.advance(10)
    assert cache.get("a") is None  # expired at exactly its TTL
    cache.put("a", 1)
    cache.invalidate(["a"])
    assert cache.get("a") is None
    cache.put("a", 1)
    cache.clear()
    assert len(cache) == 0
    disabled: TtlCache[str, int] = TtlCache(0, 2, clock)
    disabled.put("a", 1)
    assert disabled.get("a") is None


def test_caching_store_reads_misses_in_one_batch_and_caches_absences() -> None:
    clock = FakeClock(0)
    reader = MemoryReader(CORP)
    store = CachingStore(reader, ttl=60, clock=clock)
    wanted = [(G, "hr"), (G, "nope")]
    first, until = store.lookup(wanted)
    assert first[(G, "hr")] is not None and first[(G, "nope")] is None and until == 60
    clock.advance(30)
    again, until = store.lookup(wanted)
    assert again == first and until == 60 and len(reader.batches) == 1
    store.lookup([(G, "hr"), (G, "admins")])
    assert reader.batches[-1] == [(G, "admins")]
    clock.advance(31)
    store.lookup(wanted)
    assert reader.batches[-1] == wanted  # expired: read again


def test_invalidate_and_clear_force_a_read_and_bump_the_generation() -> None:
    reader = MemoryReader(CORP)
    store = CachingStore(reader, ttl=60, clock=FakeClock(0))
    store.lookup([(G, "hr")])
    store.invalidate([{"type": G, "id": "hr"}])
    assert store.generation == 1
    store.lookup([(G, "hr")])
    store.clear()
    store.lookup([(G, "hr")])
    assert len(reader.batches) == 3 and store.generation == 2


def test_a_failed_read_is_a_dependency_error_and_caches_nothing() -> None:
    reader = MemoryReader(CORP)
    store = CachingStore(reader, ttl=60, clock=FakeClock(0))
    store.lookup([(G, "hr")])
    reader.fail = True
    assert store.lookup([(G, "hr")])[0][(G, "hr")] is not None  # cached: no read
    with pytest.raises(DependencyError):
        store.lookup([(G, "hr"), (G, "admins")])
    reader.fail = False
    store.lookup([(G, "admins")])
    assert reader.batches[-1] == [(G, "admins")]


def test_an_entity_that_does_not_fit_the_schema_is_refused_not_taken_as_absent(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Taken as absent, a user item whose memberships misfit let the token's groups decide (an
    admin the store had removed kept admin), and a folder cut a chain a `forbid` followed."""
    bad = {"uid": {"type": "Corp::Account", "id": "acc-9"}, "attrs": {"tenant": 7}, "parents": []}
    engine = Engine.load(ROOT / "policies", ROOT / "schemas" / "corp.cedarschema",
                         store=CachingStore(MemoryReader([bad])))  # fmt: skip
    with pytest.raises(EntityStoreUnavailable, match='Corp::Account::"acc-9" does not fit') as no:
        engine.store.lookup([("Corp::Account", "acc-9")])
    assert no.value.reason == "misfit_item"
    # The store says hank is in no group; his item misfits (tenant not a String): refused,
    # where the token's `hr-engineering` let him read a salary before.
    reader = MemoryReader([*CORP, user("hank", tenant=7)])
    store = CachingStore(reader, clock=clock, user_groups_from_store=True)
    authz = authorizer_with(env, store, clock)
    event = rest(user_token(issuer, "hank", clock.now), "GET", "/employees/emp-001/salary",
                 "/employees/{employeeId}/salary")  # fmt: skip
    with pytest.raises(DependencyError, match="misfit_item"):
        authz.handle(event)
    reader.put(user("hank", tenant="acme"))
    assert outcome(authz, event) == "Deny"  # in no group: the store's word


# --- the JSON file store ---------------------------------------------------------------------------


def test_json_store_names_a_cycle() -> None:
    text = json.dumps([group("a", "b"), group("b", "a")])
    with pytest.raises(
        ConfigError, match=r'cycle in the entity hierarchy: Corp::UserGroup::"(a|b)"'
    ):
        JsonFileStore(text, None, "cyclic.json")
    with pytest.raises(ConfigError, match=r"x\.json: invalid Cedar entities"):
        JsonFileStore("{}", None, "x.json")


def test_an_entities_file_nested_past_the_json_parser_is_a_precise_error(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a RecursionError traceback (the CLI's test, explain, bundle and compile alike)."""
    from authorizer.tooling.cli import main  # noqa: PLC0415

    deep = '[{"uid": {"type": "T", "id": "x"}, "attrs": {"a": ' + "[" * 100_000 + "]" * 100_000
    deep += '}, "parents": []}]'
    with pytest.raises(ConfigError, match=r"deep\.json: invalid Cedar entities: nested too deeply"):
        JsonFileStore(deep, None, "deep.json")
    path = tmp_path / "deep.json"
    path.write_text(deep)
    out = str(tmp_path / "out.json")
    for command, code in ((["bundle", "-o", out], 1), (["compile"], 1),
                          (["explain", "--user", "alice", "--method", "GET", "--path", "/"], 1)):  # fmt: skip
        assert main([*command, "--entities", str(path)]) == code, command
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("nested too deeply" in err or "recursion" in err)


def test_json_store_serves_lookups_from_the_file() -> None:
    store = JsonFileStore(json.dumps(CORP), None)
    found, until = store.lookup([(G, "hr"), (G, "nope")])
    assert found[(G, "hr")] is not None and found[(G, "nope")] is None and until == float("inf")
    store.invalidate([(G, "hr")])
    store.clear()
    assert store.generation == 0


def test_a_json_store_is_shared_and_each_request_gets_a_slice(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """No caller holds a copy of the store: a request's handle is the slice of the file it can
    reach, not the file."""
    engine = authz.engine
    assert not engine.live_store and isinstance(engine.store, JsonFileStore)
    token = user_token(issuer, "alice", clock.now)
    for path in ("/employees/emp-001", "/employees/emp-002"):
        assert outcome(authz, rest(token, "GET", path, "/employees/{employeeId}")) == "Allow"
    caller = authz.verify(token)
    assert caller.entities is None and caller.part is not None
    found = engine.entity_set(caller.part, [{"type": "Corp::Employee", "id": "emp-001"}], [{}])
    uids = {(e["uid"]["type"], e["uid"]["id"]) for e in json.loads(str(found.handle))}
    # The policies read emp-001's group and whether that has an hrGroup (not the hrGroup's
    # data); alice's group is in the file. The schema's actions come with any handle.
    assert {u for u in uids if u[0] != "Corp::Action"} == {
        ("Corp::Employee", "emp-001"),
        (G, "engineering"),
        ("Corp::User", "alice"),
    }


# --- a live store through the engine and the authorizer -------------------------------------------


def test_store_settings_from_env() -> None:
    assert StoreSettings.from_env({}) == StoreSettings()
    parsed = StoreSettings.from_env({"ENTITY_STORE_TABLE": " t ", "ENTITY_CACHE_TTL": "5",
                                     "ENTITY_CACHE_SIZE": "7", "USER_GROUPS_FROM_STORE": "true"})  # fmt: skip
    assert parsed == StoreSettings("t", 5.0, 7, True)
    for bad in ({"ENTITY_CACHE_TTL": "soon"}, {"ENTITY_CACHE_SIZE": "0"},
                {"ENTITY_CACHE_SIZE": "-3"}, {"USER_GROUPS_FROM_STORE": "maybe"}):  # fmt: skip
        with pytest.raises(ConfigError):
            StoreSettings.from_env(bad)


@pytest.fixture
def live(env: dict[str, str], clock: FakeClock) -> tuple[Authorizer, MemoryReader]:
    reader = MemoryReader(CORP)
    return authorizer_with(env, CachingStore(reader, ttl=60, clock=clock), clock), reader


@pytest.mark.parametrize(
    ("user_name", "method", "path", "template", "kwargs", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_every_sample_scenario_decides_alike_over_a_live_store(
    live: tuple[Authorizer, MemoryReader],
    issuer: LocalIssuer,
    clock: FakeClock,
    user_name: str,
    method: str,
    path: str,
    template: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    authz, _ = live
    token = user_token(issuer, user_name, clock.now)
    event = rest(token, method, path, template, **{"now_ms": int(clock.now * 1000), **kwargs})
    assert outcome(authz, event) == expected


def test_a_live_store_reads_only_what_the_request_needs(
    live: tuple[Authorizer, MemoryReader], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz, reader = live
    token = user_token(issuer, "paula", clock.now)
    salary = rest(token, "GET", "/employees/emp-001/salary", "/employees/{employeeId}/salary")
    assert outcome(authz, salary) == "Allow"
    fetched = {uid for batch in reader.batches for uid in batch}
    assert fetched == {("Corp::Employee", "emp-001"), (G, "engineering"), (G, "hr-engineering-payroll"),
                       (G, "hr-engineering"), (G, "hr"), ("Corp::User", "auditor-0001")}  # fmt: skip
    assert len(reader.batches) == 3  # one round per level
    # The same resource for another user of the same groups: nothing read.
    before = len(reader.batches)
    other = rest(user_token(issuer, "paula", clock.now, extra={"email": "p@x"}), "GET",
                 "/employees/emp-001/salary", "/employees/{employeeId}/salary")  # fmt: skip
    assert outcome(authz, other) == "Allow" and len(reader.batches) == before


def test_is_authorized_reads_the_resource_from_a_live_store(
    live: tuple[Authorizer, MemoryReader], issuer: LocalIssuer
) -> None:
    authz, reader = live
    claims = issuer.claims("pat", groups=["payment-initiators"],
                           extra={"tenant": "acme", "dailyLimit": 5000})  # fmt: skip
    action = {"type": "Corp::Action", "id": "post /accounts/{accountId}/transfers"}
    context = {"token": {}, "request": {"method": "POST", "path": "/", "route": "/",
               "time": {"__extn": {"fn": "datetime", "arg": "2026-11-18T10:00:00Z"}}}, "amount": 10}  # fmt: skip
    principal = {"type": "Corp::User", "id": "pat"}
    for account, allowed in (("acc-001", True), ("acc-003", False), ("acc-404", False)):
        resource = {"type": "Corp::Account", "id": account}
        decision = authz.is_authorized(principal, action, resource, context, claims=claims)
        assert decision.allowed is allowed, (account, decision)
    # Without claims, the principal is the store's entity, as with the JSON file.
    reader.put(user("pat", "payment-initiators", tenant="acme", dailyLimit=5000))
    resource = {"type": "Corp::Account", "id": "acc-001"}
    assert authz.is_authorized(principal, action, resource, context).allowed


def test_principal_attributes_come_from_the_token_even_when_the_store_has_the_user(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    reader = MemoryReader([*CORP, user("alice", "engineering", tenant="globex")])
    store = CachingStore(reader, clock=clock, user_groups_from_store=True)
    authz = authorizer_with(env, store, clock)
    token = user_token(issuer, "alice", clock.now)  # tenant acme in the token
    assert (
        outcome(authz, rest(token, "GET", "/employees/emp-001", "/employees/{employeeId}"))
        == "Allow"
    )


def test_a_cycle_in_a_live_store_fails_closed_with_its_name(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    reader = MemoryReader([*CORP, group("hr", "hr-engineering-payroll")])  # hr <- ... <- hr
    authz = authorizer_with(env, CachingStore(reader, clock=clock), clock)
    token = user_token(issuer, "paula", clock.now)
    event = rest(token, "GET", "/employees/emp-001/salary", "/employees/{employeeId}/salary")
    with pytest.raises(EntityGraphError, match="cycle in the entity hierarchy"):
        authz.handle(event)  # a 500 at API Gateway: never an Allow, never a cached Deny


def test_live_entities_without_a_principal_or_resources() -> None:
    store = CachingStore(MemoryReader(CORP))
    live = LiveEntities(store, None, {})
    assert live.resource_budget == 0 and live.principal_budget < 0
    empty = live.entity_set([], [])
    assert empty.expires_at == float("inf")
