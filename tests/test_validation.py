"""Validation in groups by action (authorizer/cedar/validation.py) finds exactly the problems
that validating every file whole against the whole schema finds, messages included, on
generated policies valid and not: every scope form, action groups and lists, action literals in
conditions (declared and not), type errors, impossible scopes, templates, several files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.cedar import validation
from authorizer.cedar.engine import validate
from authorizer.cedar.policies import load_policies
from authorizer.errors import PolicyError
from tests.test_index_equivalence import MODEL, action_scopes, principal_scopes, resource_scopes

SCHEMA = MODEL.cedar
assert SCHEMA is not None

bodies = st.sampled_from(
    [
        "",
        " when { principal.n > 1 }",
        " when { principal.zz == 1 }",  # no such attribute
        " when { 1 }",  # not a Bool
        ' when { action == T::Action::"a3" }',  # another declared action, named
        ' unless { action in T::Action::"ag2" }',
        ' when { action == T::Action::"nope" }',  # an undeclared action
        " when { resource.owner.n > context.x }",
        " when { context.y == 1 }",  # not in the context type
        ' when { principal in T::G::"g1" && resource is T::R }',
    ]
)
scopes = st.one_of(
    action_scopes,
    st.sampled_from(['action == T::Action::"nope"', 'action in [T::Action::"ag1"]']),
)
policies = st.builds(
    lambda effect, p, a, r, c: f"{effect} ({p}, {a}, {r}){c};",
    st.sampled_from(["permit", "forbid"]), principal_scopes, scopes, resource_scopes, bodies,
)  # fmt: skip
templates = st.sampled_from(
    [
        'permit (principal == ?principal, action == T::Action::"a1", resource in ?resource);',
        'permit (principal in ?principal, action in T::Action::"ag2", resource) when { 1 };',
        "forbid (principal is T::F in ?principal, action, resource);",
    ]
)


def write(folder: Path, files: list[list[str]]) -> None:
    for number, statements in enumerate(files):
        body = [f'@id("f{number}p{i}")\n{s}' for i, s in enumerate(statements)]
        (folder / f"f{number}.cedar").write_text("// generated\n" + "\n\n".join(body) + "\n")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.lists(st.one_of(policies, policies, templates), min_size=1, max_size=12),
        min_size=1,
        max_size=3,
    )
)
def test_grouped_validation_finds_what_whole_files_do(
    tmp_path: Path, files: list[list[str]]
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    write(folder, [*files, ["permit (principal, action, resource);"]])  # never templates alone
    loaded = load_policies(folder)
    whole = validation.validate_files(loaded, SCHEMA)
    grouped = validation.validate_by_action(loaded, SCHEMA, MODEL)
    assert sorted(grouped) == sorted(whole)


def test_the_comparison_sees_errors_of_every_kind(tmp_path: Path) -> None:
    write(tmp_path, [[
        'permit (principal is T::F, action == T::Action::"a1", resource);',
        'permit (principal, action == T::Action::"a1", resource) when { principal.zz == 1 };',
        'permit (principal, action == T::Action::"a1", resource) when { action == T::Action::"a3" };',
        'permit (principal, action == T::Action::"a1", resource) when { action == T::Action::"nope" };',
        'permit (principal, action in T::Action::"ag1", resource) when { 1 };',
    ]])  # fmt: skip
    loaded = load_policies(tmp_path)
    whole = validation.validate_files(loaded, SCHEMA)
    assert sorted(validation.validate_by_action(loaded, SCHEMA, MODEL)) == sorted(whole)
    messages = " ".join(problem.text for problem in whole)
    for expected in ("unable to find an applicable action", "attribute `zz`", "unrecognized "
                     "action `T::Action::\"nope\"`", "expected Bool"):  # fmt: skip
        assert expected in messages
    # The valid policy naming another declared action passes in its group too.
    assert not any("f0p2" in problem.text for problem in whole)


def test_many_policies_are_validated_in_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past GROUPED_FROM the engine's validation calls Cedar once per group of actions, each
    against the schema with those actions only, and still reports a bad policy by file, line
    and @id."""
    statements = [f'permit (principal, action == T::Action::"a{1 + i % 5}", resource);'
                  for i in range(800)]  # fmt: skip
    statements.append('permit (principal, action == T::Action::"a2", resource) when { 1 };')
    write(tmp_path, [statements])
    loaded = load_policies(tmp_path)
    calls: list[str] = []
    real = cedarpy.validate_policies

    def counting(text: str, schema: object, **kwargs: object) -> object:
        calls.append(text)
        return real(text, schema, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validation.cedarpy, "validate_policies", counting)
    monkeypatch.setattr(validation, "GROUPED_FROM", 5_000)  # 801 policies x 7 actions
    with pytest.raises(PolicyError, match=r"f0\.cedar:2402: policy 'f0p800': .*expected Bool"):
        validate(loaded, SCHEMA, MODEL)
    assert len(calls) == 5  # one per action, none over all 801 policies
