"""The ancestors Cedar sees of a request's principal and resource, for the policy index.

A cedarpy entities handle is opaque, so the engine keeps, beside each handle it builds, the
parent edges that went into it: the JSON store's (``StoreParents``, read through the store's
``lookup``) and those of the request's own entities added on top (the principal and its groups).
An entity's parents are the added entity's when it was added (the engine adds only entities the
store lacks), else the store's; a slice of the store holds every ancestor of what it holds, so
the same holds for a slice. A handle built elsewhere (a live store's small per-request handle, a
backend's own entities) is read back from Cedar's own rendering when it is small
(``edges_of_handle``); otherwise its ancestry is unknown and the index falls back to the action
alone, which is always safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from authorizer.cedar.index import Uid, entity_keys, uid_of_node

Edges = Mapping[Uid, tuple[Uid, ...]]
Parents = Callable[[Uid], tuple[Uid, ...]]  # an entity's parents (none when it is absent)


def uid_of(node: object) -> Uid:
    """``uid_of_node``, for entities Cedar accepted: anything else is a ValueError."""
    uid = uid_of_node(node)
    if uid is None:
        raise ValueError(f"not an entity uid: {str(node)[:80]}")
    return uid


def edges_of(entities: Iterable[Any]) -> dict[Uid, tuple[Uid, ...]]:
    """Each entity's parents, from Cedar JSON entities (ValueError on a shape Cedar refuses)."""
    edges: dict[Uid, tuple[Uid, ...]] = {}
    for entity in entities:
        if not isinstance(entity, Mapping):
            raise ValueError("an entity is a JSON object")
        parents = entity.get("parents") or []
        if not isinstance(parents, list):
            raise ValueError("parents must be a list")
        edges[uid_of(entity.get("uid"))] = tuple(uid_of(p) for p in parents)
    return edges


def edges_of_handle(rendered: str) -> dict[Uid, tuple[Uid, ...]]:
    """The edges of a handle from ``str(handle)``: Cedar renders every entity with all of its
    ancestors (the transitive closure), exactly what it evaluates ``in`` with."""
    return edges_of(json.loads(rendered))


def _closure(uid: Uid, parents: Parents) -> frozenset[Uid]:
    seen: set[Uid] = set()
    stack = list(parents(uid))
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack.extend(parents(parent))
    seen.discard(uid)  # a cycle back to itself: Cedar refuses those, but never loop or lie
    return frozenset(seen)


def _of(edges: Edges) -> Parents:
    return lambda uid: edges.get(uid, ())


class StoreParents:
    """The JSON store's edges, with each entity's ancestors and keys kept once computed (the
    store does not change while the engine lives). Plain dictionaries, emptied when full: they
    are read on every request, and an LRU's bookkeeping costs more than a rare recomputation."""

    def __init__(self, parents: Parents, cache_size: int = 100_000) -> None:
        self.parents = parents
        self.cache_size = cache_size
        self._ancestors: dict[Uid, frozenset[Uid]] = {}
        self._keys: dict[Uid, frozenset[str]] = {}

    def ancestors(self, uid: Uid) -> frozenset[Uid]:
        found = self._ancestors.get(uid)
        if found is None:
            if len(self._ancestors) >= self.cache_size:
                self._ancestors.clear()
            found = self._ancestors[uid] = _closure(uid, self.parents)
        return found

    def keys(self, uid: Uid) -> frozenset[str]:
        found = self._keys.get(uid)
        if found is None:
            if len(self._keys) >= self.cache_size:
                self._keys.clear()
            found = self._keys[uid] = entity_keys(uid, self.ancestors(uid))
        return found


class Ancestry:
    """The edges of one handle: ``own`` (the entities added to the store, or a whole small
    handle) over ``store`` (None: ``own`` is everything)."""

    __slots__ = ("_keys", "own", "store")

    def __init__(self, own: Edges, store: StoreParents | None) -> None:
        self.own = own
        self.store = store
        self._keys: dict[Uid, frozenset[str]] = {}

    def keys(self, uid: Uid) -> frozenset[str]:
        """The index keys matching ``uid`` in this handle."""
        found = self._keys.get(uid)
        if found is None:
            found = self._keys[uid] = self._compute(uid)
        return found

    def _compute(self, uid: Uid) -> frozenset[str]:
        store, own = self.store, self.own
        if store is None:
            return entity_keys(uid, _closure(uid, _of(own)))
        if uid not in own:
            stored = store.ancestors(uid)
            if not own or own.keys().isdisjoint(stored):
                return store.keys(uid)  # nothing added on top reaches it: the store's answer
        return entity_keys(uid, self._layered(uid, store))

    def _layered(self, uid: Uid, store: StoreParents) -> frozenset[Uid]:
        """Ancestors through the added entities' own parents, and through each stored entity
        met on the way its (kept) stored ancestors: an added principal's token groups cost a
        dictionary lookup each, not a walk of the store."""
        own = self.own
        seen: set[Uid] = set()
        stack = list(own[uid] if uid in own else store.parents(uid))
        while stack:
            entity = stack.pop()
            if entity in seen:
                continue
            seen.add(entity)
            parents = own.get(entity)
            if parents is not None:
                stack.extend(parents)
                continue
            above = store.ancestors(entity)
            if own.keys().isdisjoint(above):
                seen |= above  # nothing added on top reaches further up
            else:
                stack.extend(store.parents(entity))
        seen.discard(uid)
        return frozenset(seen)
