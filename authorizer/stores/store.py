"""The entity store: resource entities and relationships (group hierarchy, memberships) the
policies read, behind one interface with two implementations.

- ``JsonFileStore``: a Cedar JSON entities file, parsed once at cold start into one cedarpy
  handle (the embedded default, ``CEDAR_ENTITIES``). The engine uses that handle directly: no
  per-request work beyond adding the caller's principal and groups, as before there was a store.
- ``CachingStore``: any batch reader (DynamoDB: ``authorizer.stores.dynamo_store``) behind a bounded
  TTL cache with explicit ``invalidate``/``clear``. Per request ``LiveEntities`` fetches the
  closure the request needs (``entity_graph.closure``) and builds a small cedarpy handle.

Which source wins (with a live store):

| what                              | source                                                   |
|-----------------------------------|----------------------------------------------------------|
| principal attributes              | the token, always (DynamoDB store)                        |
| principal's groups (membership)   | ``USER_GROUPS_FROM_STORE=true``: the store's User item    |
|                                   | when it has one (its parents; ``[]`` = no groups), the   |
|                                   | token otherwise; by default the token                     |
| group hierarchy (group parents)   | the store; a token group the store lacks has no parents  |
| resource attributes and parents   | the store; a resource it lacks has none (tenant-isolation |
|                                   | then denies)                                             |
With the JSON file, an entity the file holds is used as the file has it, a User included
(attributes and groups: the authoring harness and Cedar test files rely on it); the token
supplies principals and groups the file lacks.

Freshness: an answer from DynamoDB (present or absent) is reused for ``ENTITY_CACHE_TTL``
seconds; decisions made from it are cached no longer than it, so a change in the table is seen
within the TTL (plus API Gateway's own authorizer cache, for token-keyed routes). Nothing is
served past its TTL: DynamoDB unreachable for an entity not freshly cached is a
``DependencyError`` (500, never a cached Deny).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

import cedarpy

from authorizer.config import StoreSettings
from authorizer.errors import ConfigError, DependencyError
from authorizer.records import NamedTuple
from authorizer.stores.entity_graph import (
    MAX_DEPTH,
    Closure,
    EntityGraphError,
    StoredEntity,
    UidKey,
    closure,
    cycle_message,
    find_cycle,
    reach,
    references,
    stored_entity,
    uid_key,
    uid_text,
)
from authorizer.stores.ttl_cache import Lru, TtlCache

logger = logging.getLogger(__name__)
Clock = Callable[[], float]
UidLike = UidKey | Mapping[str, Any]


class EntityStoreUnavailable(DependencyError):
    """The store could not answer and no fresh cached answer stands in."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"entity store {reason}: {detail}" if detail else f"entity store {reason}")
        self.reason = reason


class EntityStore(Protocol):
    """What the engine needs of an entity store."""

    @property
    def preloaded(self) -> cedarpy.Entities | None:
        """The whole store as one handle (a file), or None (read per request)."""

    @property
    def user_groups_from_store(self) -> bool: ...

    @property
    def clock(self) -> Clock:
        """The time the store's answers expire by."""

    @property
    def generation(self) -> int:
        """Changes on every ``invalidate``/``clear``: cached decisions key on it."""

    def lookup(self, uids: Collection[UidKey]) -> tuple[dict[UidKey, StoredEntity | None], float]:
        """One batch: each uid's entity (None: absent) and when these answers expire."""

    def use_schema(self, schema: cedarpy.Schema | None) -> None: ...

    def invalidate(self, uids: Iterable[UidLike]) -> None: ...

    def clear(self) -> None: ...


class BatchReader(Protocol):
    """One batch read of the backing store (BatchGetItem). Every requested uid is answered
    (None: absent or malformed, logged). Raises ``EntityStoreUnavailable``."""

    def read(self, uids: Sequence[UidKey]) -> dict[UidKey, StoredEntity | None]: ...


class CachingStore:
    """A ``BatchReader`` behind a TTL cache of entities (and of absences)."""

    preloaded = None

    def __init__(
        self,
        reader: BatchReader,
        ttl: float = 60.0,
        maxsize: int = 10_000,
        clock: Clock = time.time,
        user_groups_from_store: bool = False,
    ) -> None:
        self.reader, self.clock = reader, clock
        self.cache: TtlCache[UidKey, StoredEntity | None] = TtlCache(ttl, maxsize, clock)
        self.user_groups_from_store = user_groups_from_store
        self.generation = 0
        self.reads = 0  # batches sent to the reader (tests and benchmarks look)
        self._schema: cedarpy.Schema | None = None

    @classmethod
    def from_settings(
        cls, reader: BatchReader, settings: StoreSettings, clock: Clock = time.time
    ) -> CachingStore:
        return cls(reader, settings.cache_ttl, settings.cache_size, clock,
                   settings.user_groups_from_store)  # fmt: skip

    def use_schema(self, schema: cedarpy.Schema | None) -> None:
        self._schema = schema

    def lookup(self, uids: Collection[UidKey]) -> tuple[dict[UidKey, StoredEntity | None], float]:
        found: dict[UidKey, StoredEntity | None] = {}
        expires = math.inf
        missing: list[UidKey] = []
        for uid in uids:
            entry = self.cache.get(uid)
            if entry is None:
                missing.append(uid)
            else:
                found[uid], until = entry
                expires = min(expires, until)
        if missing:
            self.reads += 1
            fetched = self.reader.read(missing)
            for uid in missing:
                entity = fetched.get(uid)
                if entity is not None:
                    self._check(entity)
                found[uid] = entity
                expires = min(expires, self.cache.put(uid, entity))
        return found, expires

    def _check(self, entity: StoredEntity) -> None:
        """Each fetched entity is checked against the schema alone, so the error names it. One
        that does not fit is refused (500, nothing cached), never taken as absent: absent, a
        parent or an attribute a `forbid` reads would be missing."""
        try:
            cedarpy.Entities.from_json_str(f"[{entity.json}]", self._schema)
        except ValueError as error:
            raise EntityStoreUnavailable(
                "misfit_item", f"{uid_text(entity.uid)} does not fit the schema: {str(error)[:300]}"
            ) from None

    def invalidate(self, uids: Iterable[UidLike]) -> None:
        self.cache.invalidate(uid_of(u) for u in uids)
        self.generation += 1

    def clear(self) -> None:
        self.cache.clear()
        self.generation += 1


class JsonFileStore:
    """A Cedar JSON entities file: each entity as a ``StoredEntity`` for ``lookup`` (the engine
    slices requests from these: ``authorizer.stores.file_slices``), and the whole file as one
    handle, validated against the schema at cold start. ``validated``: this very text was
    validated against this schema already (``cedar-authz compile`` vouches for it by digest):
    the handle, which requests do not need (the backend library's whole-store form does), is
    then parsed on first use: an 11 MB file costs ~1.6 s and ~170 MB less at cold start."""

    user_groups_from_store = False
    generation = 0
    clock: Clock = staticmethod(time.time)

    def __init__(
        self,
        entities_json: str,
        schema: cedarpy.Schema | None,
        label: str = "entities",
        validated: bool = False,
    ) -> None:
        self._schema = schema
        self._handle: cedarpy.Entities | None = None
        self._text: str | None = entities_json if validated else None
        try:
            entities = json.loads(entities_json)
            if not validated:
                self._handle = cedarpy.Entities.from_json_str(entities_json, schema)
        except RecursionError:  # JSON nested past Python's parser: a precise error, not a crash
            raise ConfigError(f"{label}: invalid Cedar entities: nested too deeply") from None
        except (ValueError, TypeError) as error:
            why = _why(entities_json, error)
            raise ConfigError(f"{label}: invalid Cedar entities: {why}") from None
        if not isinstance(entities, list):
            raise ConfigError(f"{label}: a JSON list of entities is expected")
        # Cedar accepted every entity, so each is an object with a well-formed uid. The index
        # is a third of the parsed file's size, which is let go.
        self._index: dict[UidKey, StoredEntity] = {s.uid: s for s in map(stored_entity, entities)}
        self.known_uids: frozenset[UidKey] = frozenset(self._index)

    @property
    def preloaded(self) -> cedarpy.Entities:
        """The whole file as one handle (parsed now if it was not at cold start)."""
        if self._handle is None:
            assert self._text is not None  # kept until the handle is made
            self._handle = cedarpy.Entities.from_json_str(self._text, self._schema)
            self._text = None
        return self._handle

    @property
    def parsed(self) -> cedarpy.Entities | None:
        """The whole-file handle if it was made (``preloaded`` makes it)."""
        return self._handle

    def knows(self, uid: UidKey) -> bool:
        return uid in self.known_uids

    def use_schema(self, schema: cedarpy.Schema | None) -> None:
        pass  # parsed with the schema already

    def lookup(self, uids: Collection[UidKey]) -> tuple[dict[UidKey, StoredEntity | None], float]:
        index = self._index
        return {uid: index.get(uid) for uid in uids}, math.inf

    def invalidate(self, uids: Iterable[UidLike]) -> None:
        pass  # the file is read once; a new file is a new deployment

    def clear(self) -> None:
        pass


class EntitySet(NamedTuple):
    handle: cedarpy.Entities
    expires_at: float  # decisions made with it are not reused past this (inf: a file)


class LiveEntities:
    """Per request, from a store read per request: the closure of the resources and of the
    principal's groups, then one small handle. Reused while fresh: the closure per set of roots
    (every answer in it fresh, no ``invalidate`` since), the parsed stored part per content, the
    handle with the principal added per content. A warm request costs a few dictionary lookups
    and one ``json.dumps`` of the principal."""

    def __init__(
        self,
        store: EntityStore,
        schema: cedarpy.Schema | None,
        policy_document: object,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.store, self.schema, self.max_depth = store, schema, max_depth
        # What the policies read, from where (``entity_graph.reach``: data, and the ancestors on
        # the left of `in`): `resource.home in Folder::"hr"` needs resource.home and its
        # ancestors, one reference hop from the resource.
        # Reference hops as far as the policies read (a chain of 8 `.up` was cut at the parent
        # bound, past a forbid on the ninth folder).
        found = reach(policy_document)
        self.resource_budget = found.variables.get("resource", 0)
        # context.a is a record read: an entity in the context is one hop less.
        self.context_budget = found.variables.get("context", 0) - 1
        self.literals = dict(found.literals)
        # The principal's data is the token's: what its attributes name is one hop out. It may
        # also be reached from any root (a resource's owner, a context target, a literal), where
        # the store has no item for it and the walk stopped, so as far as any reads, less one
        # (as the JSON file's slices do): `resource.owner.team.suspended` with the owner the
        # caller read a team that was never fetched.
        deepest = max(
            [found.variables.get(v, 0) for v in ("principal", "resource", "context")]
            + list(self.literals.values())
        )
        self.principal_budget = deepest - 1
        # A principal read from the store (given by UID alone): its data is the store's, read as
        # deep as the policies read through `principal`, or as a resource when it is one.
        self.stored_principal_budget = max(
            self.resource_budget, found.variables.get("principal", 0)
        )
        # The closure per set of roots, reused while every answer in it is fresh (same expiry,
        # same generation): a warm request reads no cache entry one by one.
        self._slices: Lru[tuple[tuple[UidKey, int], ...], tuple[float, int, Closure]] = Lru(4096)
        self._parts: Lru[tuple[str, ...], cedarpy.Entities] = Lru(1024)
        self._handles: Lru[tuple[tuple[str, ...], str], cedarpy.Entities] = Lru(4096)

    def entity_set(
        self,
        extra: Sequence[Mapping[str, Any]],
        resources: Iterable[UidLike] = (),
        contexts: Iterable[Mapping[str, Any]] = (),
        stored_principal: UidLike | None = None,
    ) -> EntitySet:
        """The entities for requests by ``extra``'s principal (or ``stored_principal``, read from
        the store) about ``resources`` with ``contexts`` (the entities a context references are
        read too, as far as the policies read through them)."""
        principal = extra[0] if extra else None
        roots: dict[UidKey, int] = dict(self.literals)

        def root(key: UidKey, budget: int) -> None:
            roots[key] = max(roots.get(key, 0), budget)

        if stored_principal is not None:
            root(uid_of(stored_principal), self.stored_principal_budget)

        for resource in resources:
            root(uid_of(resource), self.resource_budget)
        if self.context_budget >= 0:
            for context in contexts:
                for ref in references(context):
                    root(ref, self.context_budget)
        me: UidKey | None = None
        token_groups: list[UidKey] = []
        if principal is not None:
            me = uid_key(principal["uid"])
            token_groups = [uid_key(p) for p in principal.get("parents", [])]
            if self.store.user_groups_from_store:
                root(me, 0)
            if self.principal_budget >= 0:
                for ref in references(principal.get("attrs", {})):
                    root(ref, self.principal_budget)
        for group in token_groups:  # fetched with the first round, in case the store lacks me
            root(group, 0)
        found = self._closure(roots)
        groups = token_groups
        if me is not None and self.store.user_groups_from_store and me in found.entities:
            groups = list(found.entities[me].parents)
        part = tuple(e.json for uid, e in found.entities.items() if uid != me)
        delta = ""
        if principal is not None:
            added = [{"uid": principal["uid"], "attrs": principal.get("attrs", {}),
                      "parents": [{"type": t, "id": i} for t, i in groups]}]  # fmt: skip
            added += [{"uid": {"type": t, "id": i}, "attrs": {}, "parents": []}
                      for t, i in groups if (t, i) not in found.entities]  # fmt: skip
            delta = json.dumps(added, sort_keys=True)
        return EntitySet(self._handle(part, delta, found.entities), found.expires_at)

    def _closure(self, roots: dict[UidKey, int]) -> Closure:
        key = tuple(roots.items())
        generation = self.store.generation
        memo = self._slices.get(key)
        if memo is not None and memo[0] > self.store.clock() and memo[1] == generation:
            return memo[2]
        found = closure(self.store.lookup, roots, self.max_depth)
        self._slices.put(key, (found.expires_at, generation, found))
        return found

    def _handle(
        self, part: tuple[str, ...], delta: str, entities: Mapping[UidKey, StoredEntity]
    ) -> cedarpy.Entities:
        handle = self._handles.get((part, delta))
        if handle is not None:
            return handle
        base = self._parts.get(part)
        if base is None:
            cycle = find_cycle({uid: e.parents for uid, e in entities.items()})
            if cycle is not None:
                raise EntityGraphError(cycle_message(cycle))
            try:
                base = cedarpy.Entities.from_json_str(f"[{','.join(part)}]", self.schema)
            except ValueError as error:
                raise EntityGraphError(f"the stored entities do not combine: {error}") from None
            self._parts.put(part, base)
        handle = base.with_added_json_str(delta) if delta else base
        self._handles.put((part, delta), handle)
        return handle


def uid_of(value: UidLike) -> UidKey:
    if isinstance(value, tuple):
        return value
    return uid_key(value)


def _why(entities_json: str, error: Exception) -> str:
    """Cedar's message, with the cycle named when the hierarchy has one."""
    try:
        parents = {}
        for entity in json.loads(entities_json):
            stored = stored_entity(entity)
            parents[stored.uid] = stored.parents
    except (ValueError, TypeError, AttributeError):
        return str(error)
    cycle = find_cycle(parents)
    return f"{error} ({cycle_message(cycle)})" if cycle else str(error)
