"""Pure graph logic over Cedar entities: no I/O, no clock, no cedarpy.

- ``StoredEntity``: one entity in canonical Cedar JSON with its parents and the entities its
  attributes reference, the unit the entity stores cache and hand to the engine.
- ``closure``: the entities one request needs, fetched in rounds (one batch per round) from
  roots: every ancestor (transitive group membership), and entities referenced by attributes
  up to a budget of hops. Visited entities are never fetched twice, so cycles cannot loop;
  the parent depth is bounded (``HierarchyTooDeep``: fail closed, never a partial hierarchy).
- ``find_cycle``: Cedar refuses a hierarchy with a cycle; this names it.
- ``reach``: from which roots (``principal``, ``resource``, ``context``, ``action``, an entity
  literal), and through how many attribute reads, the policies read an entity's data (``.``,
  ``has``, ``getTag``, ``hasTag``) or its ancestors (the left of ``in`` and ``is ... in``), read
  once from the policies' JSON form. What a request's entities must hold follows from it: the
  JSON file's slices and a live store's reads alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from authorizer.errors import CedarAuthzError
from authorizer.records import NamedTuple

UidKey = tuple[str, str]  # (type, id)

# Parent edges followed from a root in a store read per request (each edge may be a round trip
# to DynamoDB); a deeper hierarchy fails closed (500), never a shortened one. Reference hops are
# not bounded by it: they follow what the policies read.
MAX_DEPTH = 32


class EntityGraphError(CedarAuthzError):
    """The stored hierarchy cannot be used as it is (a cycle, or deeper than the bound)."""


class HierarchyTooDeep(EntityGraphError):
    pass


class HierarchyCycle(EntityGraphError):
    pass


class StoredEntity(NamedTuple):
    uid: UidKey
    parents: tuple[UidKey, ...]
    references: tuple[UidKey, ...]  # entities named by the attributes (and tags), sorted
    json: str  # canonical Cedar JSON: equal content, equal string

    @property
    def document(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.json)
        return value


# One round of reads: the answer for each uid (None: absent) and when the answers expire.
Lookup = Callable[[Collection[UidKey]], tuple[Mapping[UidKey, StoredEntity | None], float]]


def uid_key(value: object) -> UidKey:
    """``{"type", "id"}`` or ``{"__entity": {...}}`` -> (type, id); ValueError otherwise."""
    if type(value) is dict or isinstance(value, Mapping):  # a dict skips the ABC check
        inner = value.get("__entity", value)
        if type(inner) is dict or isinstance(inner, Mapping):
            kind, ident = inner.get("type"), inner.get("id")
            if isinstance(kind, str) and kind and isinstance(ident, str):
                return kind, ident
    raise ValueError(f"not an entity uid: {str(value)[:80]}")


def uid_dict(key: UidKey) -> dict[str, str]:
    return {"type": key[0], "id": key[1]}


def uid_text(key: UidKey) -> str:
    """Cedar's text form, ``Corp::UserGroup::"hr"`` (the id JSON-quoted)."""
    return f"{key[0]}::{json.dumps(key[1], ensure_ascii=False)}"


def parse_uid_text(text: str) -> UidKey:
    """The inverse of ``uid_text``. A type name never holds a quote, so the first ``::"``
    ends it; the rest must be exactly one JSON string."""
    cut = text.find('::"')
    if cut <= 0:
        raise ValueError(f'not an entity uid such as Type::"id": {text[:80]!r}')
    try:
        ident = json.loads(text[cut + 2 :])
    except ValueError:
        raise ValueError(f"bad entity id in {text[:80]!r}") from None
    if not isinstance(ident, str):
        raise ValueError(f"bad entity id in {text[:80]!r}")
    return text[:cut], ident


def references(value: object) -> list[UidKey]:
    """Entity uids inside Cedar JSON attribute values: ``{"__entity": ...}``, and the bare
    ``{"type", "id"}`` form a schema allows (a record that looks like one only costs a fetch)."""
    found: list[UidKey] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is str:  # the usual leaf: no ABC check
            continue
        if type(node) is dict or isinstance(node, Mapping):
            if "__entity" in node or (len(node) == 2 and "type" in node and "id" in node):
                try:
                    found.append(uid_key(node))
                    continue
                except ValueError:
                    pass
            if "__extn" not in node:
                stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return list(dict.fromkeys(found))


def stored_entity(entity: object) -> StoredEntity:
    """A Cedar JSON entity -> ``StoredEntity``; ValueError when its shape is wrong (the schema
    check of the values is cedarpy's, done by the caller)."""
    if not isinstance(entity, Mapping):
        raise ValueError("an entity must be a JSON object")
    uid = uid_key(entity.get("uid"))
    attrs = entity.get("attrs", {})
    parents_raw = entity.get("parents", [])
    if not isinstance(attrs, Mapping) or not isinstance(parents_raw, list):
        raise ValueError(f"{uid_text(uid)}: attrs must be an object and parents a list")
    parents = tuple(dict.fromkeys(uid_key(p) for p in parents_raw))
    document: dict[str, Any] = {
        "uid": uid_dict(uid),
        "attrs": dict(attrs),
        "parents": [uid_dict(p) for p in parents],
    }
    refs = references(dict(attrs))
    tags = entity.get("tags")
    if tags is not None:
        if not isinstance(tags, Mapping):
            raise ValueError(f"{uid_text(uid)}: tags must be an object")
        document["tags"] = dict(tags)
        refs = list(dict.fromkeys([*refs, *references(dict(tags))]))
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return StoredEntity(uid, parents, tuple(sorted(set(refs))), text)


class Closure(NamedTuple):
    entities: dict[UidKey, StoredEntity]  # in discovery order
    expires_at: float  # the earliest expiry of any cached answer used
    rounds: int


def closure(lookup: Lookup, roots: Mapping[UidKey, int], max_depth: int = MAX_DEPTH) -> Closure:
    """Every entity reachable from ``roots`` by parent edges (all of them, up to ``max_depth``
    edges from where the walk took up the entity) and by attribute references (while the
    root's budget, its value in ``roots``, lasts). One ``lookup`` call per round."""
    found: dict[UidKey, StoredEntity] = {}
    budgets: dict[UidKey, int] = {}  # the largest reference budget each uid was expanded with
    frontier: dict[UidKey, tuple[int, int]] = {uid: (b, 0) for uid, b in roots.items()}
    expires = float("inf")
    rounds = 0
    while frontier:
        rounds += 1
        wanted = [uid for uid in frontier if uid not in budgets]
        answers, until = lookup(wanted) if wanted else ({}, expires)
        expires = min(expires, until)
        following: dict[UidKey, tuple[int, int]] = {}
        for uid, (budget, level) in frontier.items():
            entity = found.get(uid) if uid in budgets else answers.get(uid)
            expanded = budgets.get(uid, -1)
            budgets[uid] = max(budget, expanded)
            if entity is None:
                continue
            found[uid] = entity
            if expanded < 0:  # parents once per entity: their budget is always 0
                for parent in entity.parents:
                    if parent in budgets:
                        continue
                    if level + 1 > max_depth:
                        raise HierarchyTooDeep(
                            f"entity hierarchy deeper than {max_depth} above {uid_text(uid)}"
                        )
                    _visit(following, budgets, parent, 0, level + 1)
            if budget > 0 and budget > expanded:
                for reference in entity.references:
                    _visit(following, budgets, reference, budget - 1, 0)
        frontier = following
    return Closure(found, expires, rounds)


def _visit(
    following: dict[UidKey, tuple[int, int]],
    budgets: Mapping[UidKey, int],
    uid: UidKey,
    budget: int,
    level: int,
) -> None:
    """Queue ``uid`` for the next round unless it was expanded with this budget already."""
    if budgets.get(uid, -1) >= budget:
        return
    known = following.get(uid)
    if known is None or known[0] < budget:
        following[uid] = (budget, min(level, known[1]) if known else level)


def find_cycle(parents: Mapping[UidKey, Iterable[UidKey]]) -> list[UidKey] | None:
    """A cycle in the parent relation (as a path whose last element repeats the first), or
    None. Iterative depth-first search, three colours."""
    state: dict[UidKey, int] = {}  # 1: on the current path, 2: done
    for start in parents:
        if state.get(start):
            continue
        path: list[UidKey] = [start]
        iterators = [iter(parents.get(start, ()))]
        state[start] = 1
        while iterators:
            step = next(iterators[-1], None)
            if step is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            seen = state.get(step)
            if seen == 1:
                return [*path[path.index(step) :], step]
            if seen is None:
                state[step] = 1
                path.append(step)
                iterators.append(iter(parents.get(step, ())))
    return None


def cycle_message(cycle: list[UidKey]) -> str:
    return "cycle in the entity hierarchy: " + " -> ".join(uid_text(u) for u in cycle)


# Operators that read the data of the entity on their left (and `in`, `is ... in`: its ancestors).
_READS_DATA = frozenset({".", "has", "getTag", "hasTag"})
# Operators whose value can be an entity read out of their left operand (one hop further).
_YIELDS_ATTRIBUTE = frozenset({".", "getTag"})
# Where an operator keeps its operands in Cedar's JSON form (``Record`` keeps them by name).
_OPERANDS = ("left", "right", "arg", "if", "then", "else", "in")


class Reach(NamedTuple):
    """For each root, the most attribute hops any policy reads through from it (absent: none):
    ``variables`` for ``principal``, ``resource``, ``action``, ``context``; ``literals`` for
    entities the policies name."""

    variables: Mapping[str, int]
    literals: Mapping[UidKey, int]


def reach(document: object) -> Reach:
    """``Reach`` of a policy set in Cedar's JSON form (``LoadedPolicies.document``): every
    condition of every static policy and template. Scopes read only the ancestors of
    ``principal``, ``action`` and ``resource``, which are roots anyway."""
    variables: dict[str, int] = {}
    literals: dict[UidKey, int] = {}
    for expression in _conditions(document):
        stack: list[object] = [expression]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, Mapping) or len(node) != 1:
                continue
            ((operator, body),) = node.items()
            if operator in ("Value", "Var", "Slot", "Unknown"):
                continue
            if isinstance(body, Mapping):
                reads = operator in _READS_DATA or operator == "in"
                if reads or (operator == "is" and "in" in body):
                    _note(_sources(body.get("left")), variables, literals)
                if operator == "Record":
                    stack.extend(body.values())
                else:
                    stack.extend(body[name] for name in _OPERANDS if name in body)
            elif isinstance(body, list):  # a set literal or an extension function's arguments
                stack.extend(body)
    return Reach(variables, literals)


def _conditions(document: object) -> Iterable[object]:
    if not isinstance(document, Mapping):
        return
    for group in ("staticPolicies", "templates"):
        policies = document.get(group)
        if not isinstance(policies, Mapping):
            continue
        for policy in policies.values():
            for condition in policy.get("conditions", []) if isinstance(policy, Mapping) else []:
                if isinstance(condition, Mapping):
                    yield condition.get("body")


def _sources(expression: object) -> list[tuple[str | UidKey, int]]:
    """Where the entity an expression evaluates to can come from: (root, hops). A root is a
    variable's name or a literal's uid; hops count the attribute reads on the way."""
    found: list[tuple[str | UidKey, int]] = []
    stack: list[tuple[object, int]] = [(expression, 0)]
    while stack:
        node, hops = stack.pop()
        if not isinstance(node, Mapping) or len(node) != 1:
            continue
        ((operator, body),) = node.items()
        if operator == "Var" and isinstance(body, str):
            found.append((body, hops))
        elif operator == "Value":
            found.extend((uid, hops) for uid in references(body))
        elif operator in _YIELDS_ATTRIBUTE and isinstance(body, Mapping):
            stack.append((body.get("left"), hops + 1))
        elif operator == "if-then-else" and isinstance(body, Mapping):
            stack.extend([(body.get("then"), hops), (body.get("else"), hops)])
        elif operator == "Record" and isinstance(body, Mapping):
            stack.extend((value, hops) for value in body.values())
    return found


def _note(
    sources: list[tuple[str | UidKey, int]],
    variables: dict[str, int],
    literals: dict[UidKey, int],
) -> None:
    for root, hops in sources:
        if isinstance(root, str):
            variables[root] = max(variables.get(root, 0), hops)
        else:
            literals[root] = max(literals.get(root, 0), hops)
