"""The compiled store keeps policies by index bucket: a cold start from it parses no policy, a
request parses only the buckets it can meet, and every answer, every policy source and the
policy set it yields are those of reading the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authorizer.cedar import compiled
from authorizer.cedar.compiled import COMPILED_NAME
from authorizer.cedar.engine import Decision, Engine
from bench import policy_layouts
from tests.test_cli_authoring import cli

COUNT = 400


def app(tmp_path: Path, layout: str) -> policy_layouts.Layout:
    written = policy_layouts.write(tmp_path, layout, COUNT)
    result = cli("compile", "--policies", written.policy_dir, "--schema", written.schema)
    assert result.returncode == 0, result.stderr
    assert (written.policy_dir / COMPILED_NAME).is_file()
    return written


def load(written: policy_layouts.Layout, use_compiled: bool = True) -> Engine:
    return Engine.load(written.policy_dir, written.schema, written.entities,
                       use_compiled=use_compiled)  # fmt: skip


def request(action: str, resource: dict[str, str], principal: str = "new") -> dict[str, Any]:
    return {"principal": {"type": "Corp::User", "id": principal},
            "action": {"type": "Corp::Action", "id": action}, "resource": resource,
            "context": {"token": {"scope": ["employee:read"]},
                        "request": {"method": "GET", "path": "/", "route": "/"}}}  # fmt: skip


APPLICATION = {"type": "Corp::Application", "id": "Corp"}


@pytest.mark.parametrize("layout", policy_layouts.LAYOUTS)
def test_a_cold_start_parses_no_policy_and_a_request_its_buckets_only(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = app(tmp_path, layout)
    parsed: list[int] = []
    real = compiled._records

    def counting(records: list[list[Any]], files: list[Path]) -> Any:
        parsed.append(len(records))
        return real(records, files)

    monkeypatch.setattr(compiled, "_records", counting)
    engine = load(written)
    assert parsed == []  # the tables only
    # The generated routes are classified from the tables too.
    assert engine.context_reads([("Corp::Action", "get /r7")]) == frozenset()
    assert parsed == []
    caller = [{"uid": {"type": "Corp::User", "id": "new"}, "attrs": {},
               "parents": [{"type": "Corp::UserGroup", "id": g} for g in written.groups]}]  # fmt: skip
    resource = {"type": "Corp::Thing", "id": "mine"} if layout == "resources" else APPLICATION
    action = written.method.lower() + " " + written.template
    entities = engine.entity_set(caller, (resource,)).handle
    decision = engine.decide(request(action, resource), entities)
    assert decision.allowed, decision
    assert decision.determining == ("relevant",)
    assert 0 < sum(parsed) <= 3  # the relevant bucket (and at most a neighbour or two)


@pytest.mark.parametrize("layout", policy_layouts.LAYOUTS)
def test_the_store_answers_as_the_files_do(tmp_path: Path, layout: str) -> None:
    written = app(tmp_path, layout)
    fast, slow = load(written), load(written, use_compiled=False)
    assert fast.index is not slow.index
    assert fast.policies.version == slow.policies.version
    things = [{"type": "Corp::Thing", "id": f"t{n}"} for n in range(4)] + [
        {"type": "Corp::Thing", "id": "mine"}
    ]
    for principal, groups in [("u1", []), ("u2", ["g3"]), ("new", ["g0"]), ("x", ["g-none"])]:
        caller = [{"uid": {"type": "Corp::User", "id": principal}, "attrs": {"tenant": "t1"},
                   "parents": [{"type": "Corp::UserGroup", "id": g} for g in groups]}]  # fmt: skip
        for action in ["get /things", "get /other", "get /r0", "get /r1", "get /r99"]:
            handle = fast.entity_set(caller, (APPLICATION,)).handle
            one = fast.decide(request(action, APPLICATION, principal), handle)
            other = slow.decide(request(action, APPLICATION, principal), handle)
            assert same(one, other), (principal, action)
        for thing in things:
            handle = fast.entity_set(caller, (thing,)).handle
            one = fast.decide(request("get /things/{thingId}", thing, principal), handle)
            other = slow.decide(request("get /things/{thingId}", thing, principal), handle)
            assert same(one, other), (principal, thing)


def same(one: Decision, other: Decision) -> bool:
    """Equal decisions (Cedar lists determining policies in no particular order)."""
    return one._replace(determining=(), errors=()) == other._replace(
        determining=(), errors=()
    ) and (
        set(one.determining),
        set(one.errors),
    ) == (set(other.determining), set(other.errors))


def test_everything_is_parsed_when_asked_for(tmp_path: Path) -> None:
    written = app(tmp_path, "principals")
    fast, slow = load(written), load(written, use_compiled=False)
    assert fast.policies.sources == slow.policies.sources
    assert list(fast.policies.sources) == list(slow.policies.sources)  # file order kept
    assert fast.policies.document == slow.policies.document
    assert len(fast.policy_set) == COUNT
    assert json.dumps(dict(fast.policies.document), sort_keys=True) == json.dumps(
        slow.policies.document, sort_keys=True
    )
