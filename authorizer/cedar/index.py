"""The policy index: policies in buckets by their action, principal and resource scopes, so that
a request reaches only the buckets whose scopes can match it (pure: no cedarpy, no I/O).

Cedar evaluates a policy's conditions only when its whole scope matches the request (the scope
is the first conjunct), so leaving out a policy whose scope cannot match changes no decision, no
determining policy and no error. A scope is read into a string *key*; a request's entity has the
set of keys that match it, from its uid and its ancestors (Cedar's own semantics):

| scope                     | key              | matches the entity E when            |
|---------------------------|------------------|--------------------------------------|
| unscoped                  | ``*``            | always                               |
| ``== X``                  | ``==␟T␟id``      | E is X                               |
| ``in X``                  | ``in␟T␟id``      | E is X or X is an ancestor of E      |
| ``is T``                  | ``is␟T``         | E's type is T                        |
| ``is T in X``             | ``isin␟T␟T'␟id`` | E's type is T and E ``in`` X         |

(␟ is ``SEP``, a character no entity type holds; the id comes last, so keys never collide.) A
shape we do not know, or a slot of a template that is not linked, is ``*``: including a policy is
always safe, leaving one out is not. An action scope is keyed alike (``action in [A, B]`` under
each of A and B); without a schema the action groups are unknown, so ``action in ...`` is ``*``.

Buckets hold the policies with the same (action key, principal key, resource key); the tree
``action key -> principal key -> resource key -> bucket`` is found by dictionary lookups, never
by a loop over policies. Per bucket the index keeps whether it holds a permit (a request whose
buckets hold none is a Deny: a forbid alone never allows) and what its policies read of the
context (``analysis.context_reads``), so routes are classified without reading the policies.
Building is one pass over the policies; the compiled store (``compiled.py``) keeps the same
tables, with each bucket's policies parsed on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from authorizer.cedar.analysis import context_reads
from authorizer.records import NamedTuple

Uid = tuple[str, str]  # (type, id)
Reads = frozenset[str] | None  # context attributes read; None: the context whole
Tree = dict[str, dict[str, dict[str, int]]]

SEP = "\x1f"
ANY = "*"


def uid_of_node(node: object) -> Uid | None:
    """``{"type", "id"}`` (or ``{"__entity": ...}``) -> (type, id); None for anything else."""
    if isinstance(node, Mapping):
        inner = node.get("__entity", node)
        if isinstance(inner, Mapping):
            kind, ident = inner.get("type"), inner.get("id")
            if isinstance(kind, str) and isinstance(ident, str):
                return kind, ident
    return None


def entity_key(op: str, uid: Uid) -> str:
    return f"{op}{SEP}{uid[0]}{SEP}{uid[1]}"


def scope_key(scope: object) -> str:
    """The key of a principal or resource scope (Cedar JSON)."""
    if not isinstance(scope, Mapping):
        return ANY
    op = scope.get("op")
    if op in ("==", "in"):
        uid = uid_of_node(scope.get("entity"))
        return ANY if uid is None else entity_key(str(op), uid)
    if op == "is":
        kind = scope.get("entity_type")
        if not isinstance(kind, str):
            return ANY
        inner = scope.get("in")
        if inner is None:
            return f"is{SEP}{kind}"
        uid = uid_of_node(inner.get("entity")) if isinstance(inner, Mapping) else None
        # `is T in ?slot` unlinked: every entity of type T may match, so key it as `is T`.
        return f"is{SEP}{kind}" if uid is None else f"isin{SEP}{kind}{SEP}{uid[0]}{SEP}{uid[1]}"
    return ANY


def action_keys(scope: object, groups_known: bool) -> list[str]:
    """The keys of an action scope: one per action it names."""
    if not isinstance(scope, Mapping):
        return [ANY]
    op = scope.get("op")
    if op == "==":
        uid = uid_of_node(scope.get("entity"))
        return [ANY] if uid is None else [entity_key("==", uid)]
    if op == "in" and groups_known:
        named = [scope["entity"]] if "entity" in scope else scope.get("entities")
        if not isinstance(named, list):
            return [ANY]
        uids = [uid_of_node(node) for node in named]
        if any(uid is None for uid in uids):
            return [ANY]
        return list(dict.fromkeys(entity_key("in", uid) for uid in uids if uid is not None))
    return [ANY]


def entity_keys(uid: Uid, ancestors: Iterable[Uid]) -> frozenset[str]:
    """Every key whose scope matches the entity ``uid`` with these (strict) ancestors."""
    kind = uid[0]
    found = {ANY, entity_key("==", uid), f"is{SEP}{kind}"}
    for group in (uid, *ancestors):
        found.add(entity_key("in", group))
        found.add(f"isin{SEP}{kind}{SEP}{group[0]}{SEP}{group[1]}")
    return frozenset(found)


def request_action_keys(action: Uid, groups: Iterable[Uid]) -> tuple[str, ...]:
    """Every key whose action scope matches ``action`` (``groups``: its action groups)."""
    return (ANY, entity_key("==", action), entity_key("in", action),
            *(entity_key("in", group) for group in groups))  # fmt: skip


class Policy(Protocol):
    """What the index needs of a policy (``PolicySource`` has it; a template-linked policy
    with its slots filled)."""

    @property
    def id(self) -> str: ...

    @property
    def json(self) -> Mapping[str, Any]: ...


P = TypeVar("P", bound=Policy)


class Tables(NamedTuple):
    """The index without its policies: what the compiled store writes and reads back."""

    tree: Tree
    permits: bytes  # per bucket: 1 when it holds a permit
    reads: tuple[Reads, ...]  # per bucket
    groups_known: bool  # whether `action in` scopes were keyed by group


def build(policies: Iterable[P], groups_known: bool) -> tuple[Tables, list[list[P]]]:
    """One pass over the policies: the tables and each bucket's policies."""
    tree: Tree = {}
    members: list[list[P]] = []
    permits = bytearray()
    reads: list[Reads] = []
    for policy in policies:
        body = policy.json
        principal = scope_key(body.get("principal"))
        resource = scope_key(body.get("resource"))
        permit = body.get("effect") != "forbid"  # an effect we do not know counts as a permit
        read = context_reads(body)
        for action in action_keys(body.get("action"), groups_known):
            level = tree.setdefault(action, {}).setdefault(principal, {})
            bucket = level.get(resource)
            if bucket is None:
                bucket = level[resource] = len(members)
                members.append([])
                permits.append(0)
                reads.append(frozenset())
            members[bucket].append(policy)
            permits[bucket] |= permit
            reads[bucket] = _union(reads[bucket], read)
    return Tables(tree, bytes(permits), tuple(reads), groups_known), members


def _union(one: Reads, other: Reads) -> Reads:
    return None if one is None or other is None else one | other


class PolicyIndex(Generic[P]):
    """The tables with a way to each bucket's policies (in memory, or parsed on first use)."""

    def __init__(self, tables: Tables, members: Callable[[int], Sequence[P]]) -> None:
        self.tables = tables
        self.tree = tables.tree
        self.permits = tables.permits
        self._members = members
        self._loaded: dict[int, Sequence[P]] = {}
        self._action_buckets: dict[str, tuple[int, ...]] = {}
        self._unscoped: dict[tuple[str, ...], tuple[int, ...] | None] = {}
        self._present: tuple[frozenset[str], frozenset[str]] | None = None

    @classmethod
    def of(cls, policies: Iterable[P], groups_known: bool) -> PolicyIndex[P]:
        tables, members = build(policies, groups_known)
        return cls(tables, members.__getitem__)

    def __len__(self) -> int:
        return len(self.permits)

    def members(self, bucket: int) -> Sequence[P]:
        found = self._loaded.get(bucket)
        if found is None:
            found = self._loaded[bucket] = self._members(bucket)
        return found

    def candidates(
        self,
        actions: Sequence[str],
        principal: Collection[str] | None,
        resource: Collection[str] | None,
    ) -> list[int]:
        """The buckets that can apply to a request: ``actions`` its action's keys, ``principal``
        and ``resource`` their entities' keys (None: not known, every bucket of the action).
        Each level is looked up from its smaller side: a principal with many groups meets an
        action with few principal scopes, and the other way round. (Per request: kept flat.)"""
        found: list[int] = []
        tree = self.tree
        for action in actions:
            level = tree.get(action)
            if level is None:
                continue
            if principal is None:
                inners = list(level.values())
            elif len(level) <= len(principal):
                inners = [inner for key, inner in level.items() if key in principal]
            else:
                inners = [level[key] for key in principal if key in level]
            for inner in inners:
                if resource is None:
                    found.extend(inner.values())
                elif len(inner) <= len(resource):
                    found.extend(bucket for key, bucket in inner.items() if key in resource)
                else:
                    found.extend(inner[key] for key in resource if key in inner)
        return found

    def unscoped(self, actions: tuple[str, ...]) -> tuple[int, ...] | None:
        """``candidates(actions, ...)`` when no bucket of these action keys is scoped to a
        principal or a resource (every request of the action then meets all of them, whoever
        and whatever it is about: no entity's keys are needed); None otherwise. Kept per action
        keys."""
        try:
            return self._unscoped[actions]
        except KeyError:
            pass
        levels = [level for action in actions if (level := self.tree.get(action)) is not None]
        found: tuple[int, ...] | None = None
        if all(level.keys() == {ANY} and level[ANY].keys() == {ANY} for level in levels):
            found = tuple(level[ANY][ANY] for level in levels)
        self._unscoped[actions] = found
        return found

    def present(
        self, principal: frozenset[str], resource: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """An entity's keys without those no policy has: what is left is looked up per request
        (a principal's keys for ten groups meet one or two scopes that exist)."""
        if self._present is None:  # the keys of every scope, on first use: one pass
            principals = {key for level in self.tree.values() for key in level}
            resources = {
                k for level in self.tree.values() for inner in level.values() for k in inner
            }
            self._present = frozenset(principals), frozenset(resources)
        return principal & self._present[0], resource & self._present[1]

    def action_buckets(self, actions: Sequence[str]) -> tuple[int, ...]:
        """Every bucket of these action keys, whatever the principal and resource."""
        found: list[int] = []
        for action in actions:
            known = self._action_buckets.get(action)
            if known is None:
                level = self.tree.get(action, {})
                known = tuple(b for inner in level.values() for b in inner.values())
                self._action_buckets[action] = known
            found.extend(known)
        return tuple(dict.fromkeys(found))

    def reads(self, buckets: Iterable[int]) -> Reads:
        found: Reads = frozenset()
        for bucket in buckets:
            found = _union(found, self.tables.reads[bucket])
            if found is None:
                return None
        return found
