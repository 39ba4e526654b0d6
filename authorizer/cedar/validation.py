"""Strict validation of many policies, in groups by the actions they can apply to.

Cedar's validator checks each policy against every action of the schema (it looks for the
request environments the policy's scope can match), so one call over N policies costs N x the
number of actions: 10,000 policies against a schema of 125 actions took 2.5 s, 100,000 would take
half a minute. A policy scoped to some actions (``action == A``, ``action in [A, B]``,
``action in G``) can only meet those actions' environments, so it is validated against the
schema with only those actions: the actions its scope can match (a group's members included),
the actions it names anywhere (conditions included: an action literal must be declared), and
their groups (so every ``memberOf`` still resolves). Entity and common types are all kept.
Policies with the same such set are validated in one call; an unscoped action is validated
against the whole schema. The messages are Cedar's, with the policy's position in its file, so
they read exactly as validating each file whole does (``validate_files``);
``tests/test_validation.py`` compares the two on generated policies, valid and not.

Calls release the GIL and run on a small thread pool.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import cedarpy

from authorizer.cedar.index import uid_of_node
from authorizer.cedar.policies import LoadedPolicies, PolicySource, statements
from authorizer.cedar.schema import SchemaModel
from authorizer.records import NamedTuple

Uid = tuple[str, str]
_POSITIONAL = re.compile(r"`policy(\d+)`")
PARALLEL_FROM = 500  # policies: below this, one thread is faster than a pool
# Policies x actions from which grouping pays (a group costs a schema parse and a call): below
# it every file is validated whole, as a small application's are.
GROUPED_FROM = 20_000


class Problem(NamedTuple):
    file: str
    line: int
    text: str


def problems_of(
    policies: LoadedPolicies, schema: cedarpy.Schema, model: SchemaModel | None
) -> list[Problem]:
    """Every validation problem of the policies (linked ones aside), in file and line order."""
    if model is not None and len(policies.sources) * len(model.actions) >= GROUPED_FROM:
        found = validate_by_action(policies, schema, model)
    else:
        found = validate_files(policies, schema)
    order = {str(path): index for index, path in enumerate(policies.files)}
    return sorted(found, key=lambda problem: (order.get(problem.file, -1), problem.line))


def validate_files(policies: LoadedPolicies, schema: cedarpy.Schema) -> list[Problem]:
    """Each file whole against the whole schema (small sets; and what the groups must equal)."""
    problems: list[Problem] = []
    by_file: dict[Path, dict[str, PolicySource]] = {}
    for source in policies.sources.values():
        by_file.setdefault(source.file, {})[source.cedar_id] = source
    for path, text in policies.files.items():
        result = cedarpy.validate_policies(text, schema, release_gil=True)
        in_file = by_file.get(path, {})
        for error in result.errors:
            found = in_file.get(error.policy_id)
            # Cedar names a policy by its position in the file: name it by its @id.
            message = _POSITIONAL.sub(partial(_by_cedar_id, in_file), error.error)
            problems.append(_problem(path, found, error.policy_id, message))
        if not result.validation_passed and not result.errors:
            problems.append(Problem(str(path), 0, f"{path}: validation failed"))
    return problems


def _problem(path: Path, source: PolicySource | None, cedar_id: str, error: str) -> Problem:
    policy_id = source.id if source else cedar_id
    where = f"{path}:{source.line}" if source else str(path)
    return Problem(str(path), source.line if source else 0,
                   f"{where}: policy {policy_id!r}: {error}")  # fmt: skip


class _Group(NamedTuple):
    actions: frozenset[Uid] | None  # None: the whole schema
    sources: list[PolicySource]
    texts: list[str]


def validate_by_action(
    policies: LoadedPolicies, schema: cedarpy.Schema, model: SchemaModel
) -> list[Problem]:
    """The same problems as ``validate_files``, validating each group of policies against the
    schema reduced to the actions they can meet."""
    texts = _statement_texts(policies)
    if texts is None:  # a file whose statements we cannot pair with its policies
        return validate_files(policies, schema)
    actions = _Actions(model)
    groups: dict[frozenset[Uid] | None, _Group] = {}
    for source in policies.sources.values():
        text = texts.get(source.id)
        if text is None:
            continue  # a linked policy: validated with its links
        key = actions.reach(source.json)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key, [], [])
        group.sources.append(source)
        group.texts.append(text)
    schemas: dict[frozenset[Uid] | None, cedarpy.Schema] = {None: schema}
    for key in groups:
        if key is not None:
            schemas[key] = _reduced(model, key, schema)
    work = [(group, schemas[group.actions]) for group in groups.values()]
    total = sum(len(group.sources) for group in groups.values())
    found: list[list[Problem]]
    if total >= PARALLEL_FROM and len(work) > 1:
        with ThreadPoolExecutor(max_workers=min(len(work), os.cpu_count() or 1)) as pool:
            found = list(pool.map(lambda item: _validate_group(*item), work))
    else:
        found = [_validate_group(group, reduced) for group, reduced in work]
    return [problem for problems in found for problem in problems]


def validate_rendered(
    items: Sequence[tuple[PolicySource, str]],
    schema: cedarpy.Schema,
    model: SchemaModel | None,
) -> list[tuple[PolicySource, str]]:
    """Each (policy, its text as one statement) validated, in groups by action when the schema's
    ``model`` is given: Cedar's messages, each policy named by its @id (template links)."""
    groups: dict[frozenset[Uid] | None, _Group] = {}
    actions = _Actions(model) if model is not None else None
    for source, text in items:
        key = actions.reach(source.json) if actions is not None else None
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key, [], [])
        group.sources.append(source)
        group.texts.append(text)
    found: list[tuple[PolicySource, str]] = []
    for group in groups.values():
        against = schema
        if model is not None and group.actions is not None:
            against = _reduced(model, group.actions, schema)
        result = cedarpy.validate_policies("\n".join(group.texts), against, release_gil=True)
        for error in result.errors:
            policy = _at(group.sources, error.policy_id)
            if policy is not None:
                message = _POSITIONAL.sub(partial(_named, group.sources), error.error)
                found.append((policy, message))
    return found


def _by_cedar_id(in_file: Mapping[str, PolicySource], match: re.Match[str]) -> str:
    source = in_file.get(f"policy{match.group(1)}")
    return f"`{source.id}`" if source is not None else match.group(0)


def _named(sources: Sequence[PolicySource], match: re.Match[str]) -> str:
    index = int(match.group(1))
    return f"`{sources[index].id}`" if index < len(sources) else match.group(0)


def _validate_group(group: _Group, schema: cedarpy.Schema) -> list[Problem]:
    result = cedarpy.validate_policies("\n".join(group.texts), schema, release_gil=True)
    problems: list[Problem] = []
    for error in result.errors:
        source = _at(group.sources, error.policy_id)
        if source is None:  # not a positional id: report it as Cedar gave it
            problems.append(Problem("", 0, f"policy {error.policy_id!r}: {error.error}"))
            continue
        # Cedar names the policy by its position in what it was given: name it as the
        # message's prefix does (its @id, else file:line), not by a position in anything.
        message = _POSITIONAL.sub(partial(_named, group.sources), error.error)
        problems.append(_problem(source.file, source, source.cedar_id, message))
    if not result.validation_passed and not result.errors:
        problems.append(Problem("", 0, "validation failed"))
    return problems


def _at(sources: Sequence[PolicySource], cedar_id: str) -> PolicySource | None:
    match = re.fullmatch(r"policy(\d+)", cedar_id)
    if match is None or int(match.group(1)) >= len(sources):
        return None
    return sources[int(match.group(1))]


def _statement_texts(policies: LoadedPolicies) -> dict[str, str] | None:
    """Each policy's source text (by @id), paired by position with its file's statements as
    ``parse_file`` pairs their lines; None when a file does not pair up."""
    by_file: dict[Path, list[PolicySource]] = {}
    for source in policies.sources.values():
        if source.file in policies.files:
            by_file.setdefault(source.file, []).append(source)
    texts: dict[str, str] = {}
    for path, sources in by_file.items():
        found = statements(policies.files[path])
        if len(found) != len(sources):
            return None
        ordered = sorted(sources, key=lambda s: int(s.cedar_id.removeprefix("policy")))
        for source, (_line, text) in zip(ordered, found, strict=True):
            texts[source.id] = text
    return texts


class _Actions:
    """The schema's actions and groups, for the set of actions a policy can meet."""

    def __init__(self, model: SchemaModel) -> None:
        self.declared = {(a.type, a.id) for a in model.actions}
        self.types = {a.type for a in model.actions}
        self.parents = {(a.type, a.id): a.member_of for a in model.actions}
        self.members: dict[Uid, set[Uid]] = {}
        for action in self.parents:
            for group in _closure(action, self.parents.get):
                self.members.setdefault(group, set()).add(action)

    def reach(self, policy: Mapping[str, Any]) -> frozenset[Uid] | None:
        """The actions the policy can meet or names, with their groups; None: every action."""
        scope = policy.get("action")
        if not isinstance(scope, Mapping):
            return None
        op = scope.get("op")
        named = [scope.get("entity")] if "entity" in scope else scope.get("entities")
        if op not in ("==", "in") or not isinstance(named, list):
            return None
        found: set[Uid] = set()
        for node in named:
            uid = uid_of_node(node)
            if uid is None:
                return None
            found.add(uid)
            if op == "in":
                found |= self.members.get(uid, set())
        found |= self._literals(policy.get("conditions"))
        found = {uid for uid in found if uid in self.declared}
        for uid in list(found):
            found |= _closure(uid, self.parents.get)
        return frozenset(found)

    def _literals(self, conditions: object) -> set[Uid]:
        """Action entities named in the conditions."""
        if not conditions or "Action" not in json.dumps(conditions):
            return set()
        found: set[Uid] = set()
        stack: list[object] = [conditions]
        while stack:
            node = stack.pop()
            if isinstance(node, Mapping):
                uid = uid_of_node(node.get("__entity"))
                if uid is not None and uid[0] in self.types:
                    found.add(uid)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return found


def _closure(uid: Uid, parents: Callable[[Uid], Iterable[Uid] | None]) -> set[Uid]:
    seen: set[Uid] = set()
    stack = list(parents(uid) or ())
    while stack:
        group = stack.pop()
        if group not in seen:
            seen.add(group)
            stack.extend(parents(group) or ())
    return seen


def _reduced(model: SchemaModel, keep: frozenset[Uid], whole: cedarpy.Schema) -> cedarpy.Schema:
    """The schema with only the actions in ``keep`` (every entity and common type kept)."""
    document: dict[str, Any] = {}
    for namespace, body in model.json.items():
        action_type = f"{namespace}::Action" if namespace else "Action"
        actions = body.get("actions") or {}
        kept = {name: value for name, value in actions.items() if (action_type, name) in keep}
        document[namespace] = {**body, "actions": kept}
    try:
        return cedarpy.Schema.from_json_str(json.dumps(document))
    except ValueError:  # never expected: then this group is validated against the whole
        return whole
