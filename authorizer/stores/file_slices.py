"""A JSON entity file, given to Cedar a slice at a time: parsed once, shared by every caller.

Why not one handle plus the caller: a cedarpy ``Entities`` handle cannot be extended in place.
``with_added_json_str`` clones the whole base and recomputes its transitive closure (measured
with cedarpy 4.12: ~0.6 ms on a store of 1,000 groups, 7 ms on 11,000 entities, 45 ms and 8 MB
per handle on a 12 MB file), so a handle per caller costs the store's size per caller, and a
handle per request costs its size in time. Instead the file is read once into ``StoredEntity``
texts (``JsonFileStore.lookup``) and each request gets only what its policies can reach:

- the resource part: the resource and the entities the policies can read from it (attribute
  chains, ``reach``), the entities the policies name and read (literals) and the file's action
  entities, every one with all its ancestors; built once per resource, shared by every caller;
- the caller part (``PrincipalPart``): the principal and its groups (the file's version of
  those the file holds, the token's of the others), what the policies can read from them, and
  their ancestors, serialised once per caller;
- per request, one ``with_added_json_str`` of the caller part (less what the resource part
  holds already: Cedar refuses an entity twice) onto the resource part: a handle of a few
  entities, so the clone it makes is small.

Exactness (a slice decides as the whole file does): an entity left out can change a decision
only if a policy reads its data (``.``, ``has``, ``getTag``, ``hasTag``) or its ancestors (the
left side of ``in`` and of ``is ... in``). ``reach`` finds, for each such expression, from which
root (``principal``, ``resource``, ``action``, ``context``, an entity literal) and through how
many attribute reads the entity can come, counting through ``if``/``then``/``else`` and record
literals; the slice follows attribute references that many hops from each root, and parents all
the way up. An entity a slice holds that the request does not need changes nothing: the whole
file holds it too. ``tests/test_file_slices.py`` decides generated requests both ways.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cedarpy

from authorizer.cedar.schema import (
    CedarType,
    EntityRef,
    ExtensionType,
    RecordType,
    SchemaModel,
    SetType,
)
from authorizer.records import NamedTuple
from authorizer.stores.entity_graph import (
    Reach,
    StoredEntity,
    UidKey,
    closure,
    reach,
    references,
    uid_key,
)
from authorizer.stores.store import EntitySet, JsonFileStore, UidLike, uid_of
from authorizer.stores.ttl_cache import Lru

# ``json.dumps(entity, sort_keys=True)``, without building an encoder per call.
_SORTED = json.JSONEncoder(sort_keys=True)
RESOURCE_PARTS = 1024  # resource parts kept (~11 KB each with the sample schema's actions)
CALLER_HANDLES = 1024  # request handles kept (a resource part and a caller's entities)


class _Part(NamedTuple):
    handle: cedarpy.Entities
    held: frozenset[UidKey]  # the uids in it


class PrincipalPart(NamedTuple):
    """What a caller adds to every request, made once per caller (``FileSlices.principal``)."""

    extra: tuple[Mapping[str, Any], ...]  # the principal entity, then its groups
    fresh: tuple[Mapping[str, Any], ...]  # those of ``extra`` the file does not hold
    fresh_json: str  # ``fresh`` as JSON list items ("" when none)
    # The file's entities the caller brings (its own version, its groups, their ancestors and
    # what the policies read through them): added to a request's slice unless already in it.
    stored: tuple[tuple[UidKey, str], ...]


def plain_part(extra: Sequence[Mapping[str, Any]]) -> PrincipalPart:
    """A caller part with nothing of a file (a live store reads its entities per request)."""
    return PrincipalPart(tuple(extra), tuple(extra), ",".join(entity_texts(extra)), ())


def context_holds_entities(model: SchemaModel | None) -> bool:
    """Whether a request's context can hold an entity: only where the schema declares an entity
    type in an action's context (the mapping shapes every context to its declared type, and
    drops ``__entity`` from undeclared values; without a schema a context holds none)."""
    if model is None:
        return False
    stack: list[CedarType] = [action.context for action in model.actions]
    while stack:
        kind = stack.pop()
        if isinstance(kind, EntityRef):
            return True
        if isinstance(kind, SetType):
            stack.append(kind.element)
        elif isinstance(kind, RecordType):
            stack.extend(attribute.type for attribute in kind.attributes.values())
    return False


def entity_texts(extra: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Each entity as JSON (sorted keys: equal entities, equal texts)."""
    return tuple(_SORTED.encode(entity) for entity in extra)


class FileSlices:
    """Slices of a ``JsonFileStore`` for requests (the module's account)."""

    def __init__(
        self,
        store: JsonFileStore,
        schema: cedarpy.Schema | None,
        policy_document: object,
        context_entities: bool,
        known: Reach | None = None,
        model: SchemaModel | None = None,
    ) -> None:
        """``context_entities``: whether a request's context can hold entity references (the
        schema declares an entity type in some action's context); then the entities the
        policies read through ``context`` are sliced in too."""
        self.store, self.schema = store, schema
        # Whether a stored text holds a form only the schema reads (``implicit_forms``), by uid:
        # a caller's texts are added with the schema only then (it costs ~40 us of validation).
        self._model = model
        self._implicit: dict[UidKey, bool] = {}
        # ``known``: the reach the compiled policy store keeps, so a cold start reads no policy.
        found = reach(policy_document) if known is None else known
        self.principal_hops = found.variables.get("principal", 0)
        self.resource_hops = found.variables.get("resource", 0)
        # context.a.b counts the record read `.a`: an entity in the context is one hop less.
        context = found.variables.get("context", 0) - 1
        self.context_hops = context if context_entities else -1
        action_hops = found.variables.get("action", 0)
        self._static_roots: dict[UidKey, int] = dict(found.literals)
        for uid in store.known_uids:
            if uid[0] == "Action" or uid[0].endswith("::Action"):
                self._static_roots[uid] = max(self._static_roots.get(uid, 0), action_hops)
        self._static: dict[UidKey, StoredEntity] | None = None
        deepest = [self.principal_hops, self.resource_hops, self.context_hops, action_hops]
        self._fresh_hops = max(deepest + list(found.literals.values())) - 1
        # Resource parts by the resources asked for, and by what they hold (resources the file
        # lacks all share the part of the static entities alone).
        self._parts: Lru[tuple[tuple[UidKey, ...], int], _Part] = Lru(RESOURCE_PARTS)
        self._contents: Lru[frozenset[UidKey], _Part] = Lru(RESOURCE_PARTS)
        # Request handles by caller content and part: a caller's next request about the same
        # resource that the decision cache cannot answer (a context that changes, no decision
        # cache) adds nothing again. Bounded by count, not by callers.
        self._handles: Lru[tuple[object, ...], cedarpy.Entities] = Lru(CALLER_HANDLES)
        self._callers: Lru[tuple[tuple[UidKey, int], ...], tuple[tuple[UidKey, str], ...]] = Lru(
            CALLER_HANDLES
        )

    def principal(self, extra: Sequence[Mapping[str, Any]]) -> PrincipalPart:
        """The caller part. The file's version of an entity it holds is used as the file has it
        (a User included); the others come from the token."""
        roots: dict[UidKey, int] = {}
        fresh: list[Mapping[str, Any]] = []
        hops = self.principal_hops
        for entity in extra:
            key = uid_key(entity["uid"])
            if self.store.knows(key):
                roots[key] = max(roots.get(key, 0), hops)
                continue
            fresh.append(entity)
            for parent in entity.get("parents", ()):  # its ancestors in the file
                roots.setdefault(uid_key(parent), 0)
            # What the policies can read through its attributes: it may be reached from any
            # root (a stored entity can name the principal), so as far as any reads, less one.
            if self._fresh_hops >= 0:
                for reference in references(entity.get("attrs", {})):
                    roots[reference] = max(roots.get(reference, 0), self._fresh_hops)
        return PrincipalPart(
            tuple(extra), tuple(fresh), ",".join(entity_texts(fresh)), self._caller_slice(roots)
        )

    def _caller_slice(self, roots: dict[UidKey, int]) -> tuple[tuple[UidKey, str], ...]:
        """The file's entities a caller brings, shared by callers with the same roots (the same
        groups, most often)."""
        if not roots:
            return ()
        key = tuple(roots.items())
        found = self._callers.get(key)
        if found is None:
            found = tuple((k, e.json) for k, e in self._closure(roots).items())
            self._callers.put(key, found)
        return found

    def entity_set(
        self,
        caller: PrincipalPart,
        resources: Sequence[UidLike],
        contexts: Sequence[Mapping[str, Any]] | None = None,
    ) -> EntitySet | None:
        """The handle for requests by ``caller`` about ``resources`` with ``contexts``; None
        when it cannot be sliced: the policies read entities through a context not given."""
        extra: list[tuple[UidKey, str]] = []
        if self.context_hops >= 0:
            if contexts is None:
                return None
            roots = {uid: self.context_hops for c in contexts for uid in references(c)}
            if roots:
                extra = [(k, e.json) for k, e in self._closure(roots).items()]
        # A principal named by uid alone is one of the resources: read as far as either.
        hops = self.resource_hops if caller.extra else max(self.resource_hops, self.principal_hops)
        base, held = self._resource_part(tuple(uid_of(r) for r in resources), hops)
        key = (held, caller.fresh_json, caller.stored)
        handle = None if extra else self._handles.get(key)
        if handle is None:
            handle = self._with_caller(base, held, caller, extra)
            if not extra:
                self._handles.put(key, handle)
        return EntitySet(handle, math.inf)

    def _with_caller(
        self,
        base: cedarpy.Entities,
        held: frozenset[UidKey],
        caller: PrincipalPart,
        extra: list[tuple[UidKey, str]],
    ) -> cedarpy.Entities:
        """The resource part plus the caller's entities (and the context's) it lacks."""
        # Cedar refuses an entity twice unless identical, ancestors included: the part's copy
        # has its ancestors computed, an added copy only its parents. Add only what it lacks.
        kept = [(uid, text) for uid, text in caller.stored if uid not in held]
        if extra:
            mine = {uid for uid, _ in caller.stored}
            kept += [(uid, text) for uid, text in extra if uid not in held and uid not in mine]
        stored = [text for _, text in kept]
        if not any(self._holds_implicit(uid, text) for uid, text in kept):
            # No text can hold an implicit form: one call, as the token's entities are added.
            pieces = [*stored, caller.fresh_json] if caller.fresh_json else stored
            return base.with_added_json_str("[" + ",".join(pieces) + "]") if pieces else base
        # The file's own texts are read as the file was, with the schema: a reference written
        # `{"type": .., "id": ..}` or an ip as text is Cedar's implicit form, which without the
        # schema is a record or a string (`principal.mgr == principal` was false). The token's
        # entities are in Cedar's explicit forms, but its groups may lack attributes the schema
        # requires of a group: with the file's texts in one call where the schema takes them
        # (one clone of the slice), else in a call of their own without it.
        if stored and caller.fresh_json:
            together = "[" + ",".join([*stored, caller.fresh_json]) + "]"
            try:
                return base.with_added_json_str(together, self.schema)
            except ValueError:
                pass
        if stored:
            base = base.with_added_json_str("[" + ",".join(stored) + "]", self.schema)
        if caller.fresh_json:
            base = base.with_added_json_str("[" + caller.fresh_json + "]")
        return base

    def _holds_implicit(self, uid: UidKey, text: str) -> bool:
        found = self._implicit.get(uid)
        if found is None:
            found = self._implicit[uid] = implicit_forms(json.loads(text), self._model)
        return found

    def _resource_part(self, keys: tuple[UidKey, ...], hops: int) -> _Part:
        """The handle of the resources' slice, and the uids it holds; built once, shared."""
        part = self._parts.get((keys, hops))
        if part is None:
            found = dict(self._static_part())
            found.update(self._closure(dict.fromkeys(keys, hops)))
            held = frozenset(found)
            part = self._contents.get(held)
            if part is None:
                text = "[" + ",".join(e.json for e in found.values()) + "]"
                part = _Part(cedarpy.Entities.from_json_str(text, self.schema), held)
                self._contents.put(held, part)
            self._parts.put((keys, hops), part)
        return part

    def _static_part(self) -> dict[UidKey, StoredEntity]:
        """The literals the policies read and the file's actions, with what they reach."""
        if self._static is None:
            self._static = self._closure(self._static_roots) if self._static_roots else {}
        return self._static

    def _closure(self, roots: dict[UidKey, int]) -> dict[UidKey, StoredEntity]:
        # Every ancestor, however deep: Cedar accepted the file, so it has no cycle.
        return closure(self.store.lookup, roots, max_depth=len(self.store.known_uids) + 1).entities


def implicit_forms(entity: Mapping[str, Any], model: SchemaModel | None) -> bool:
    """Whether ``entity`` (Cedar JSON) holds a value Cedar reads only with the schema: an entity
    reference written `{"type": .., "id": ..}`, an extension value as text (or as a bare
    `{"fn": .., "arg": ..}`). Without a schema there is nothing to read them with: False."""
    declared = model.entity_type(str(entity["uid"]["type"])) if model is not None else None
    if declared is None:
        return False
    tags = entity.get("tags") or {}
    return _implicit(entity.get("attrs") or {}, declared.attributes) or (
        declared.tags is not None and any(_implicit(v, declared.tags) for v in tags.values())
    )


def _implicit(value: Any, cedar_type: CedarType) -> bool:
    if isinstance(cedar_type, EntityRef):
        return isinstance(value, dict) and "__entity" not in value
    if isinstance(cedar_type, ExtensionType):
        return isinstance(value, str) or (isinstance(value, dict) and "__extn" not in value)
    if isinstance(cedar_type, SetType) and isinstance(value, list):
        return any(_implicit(v, cedar_type.element) for v in value)
    if isinstance(cedar_type, RecordType) and isinstance(value, dict):
        declared = cedar_type.attributes
        return any(_implicit(v, declared[k].type) for k, v in value.items() if k in declared)
    return False
