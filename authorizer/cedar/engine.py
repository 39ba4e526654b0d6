"""The Cedar engine: policies, schema and resource entities parsed once at cold start; each
decision is one cedarpy call on pre-parsed handles with dict-form entity UIDs.

Policies are indexed (``authorizer.cedar.index``) by action, principal scope and resource scope:
a request is evaluated against the buckets that can apply to it (its action and action groups x
the principal and its ancestors x the resource and its ancestors, read from the entities handle
by ``authorizer.cedar.ancestry``), so the cost of a decision stays flat as policies for other
actions, principals or resources are added. The policy set of each combination of buckets is
built on first use and kept (bounded LRU). A batch is one cedarpy call over the union of its
requests' buckets; a request whose buckets hold no permit is a Deny without Cedar (a forbid
alone never allows) when ``deny_without_permit`` is on, as it is in the runtime
(``Engine.load``): then Cedar is not asked which forbids would have matched.

Entities come from an entity store (``authorizer.stores.store``): a JSON file is one handle
parsed at cold start (``self.entities``); a live store (DynamoDB) is read per request, for the
resources and the principal's groups only, through a TTL cache (``entity_set``).

Fail closed: a policy set that does not parse or validate refuses to load (never an allow-all or
deny-all fallback); a decision is Allow only when Cedar says Allow with no evaluation errors; any
exception inside cedarpy is a Deny carrying the error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cedarpy

from authorizer.cedar.analysis import Uid, ancestors_of
from authorizer.cedar.ancestry import Ancestry, StoreParents, edges_of, edges_of_handle
from authorizer.cedar.compiled import Compiled, compiled_key, entities_digest, read_compiled
from authorizer.cedar.index import PolicyIndex, Reads, request_action_keys, uid_of_node
from authorizer.cedar.policies import LoadedPolicies, PolicySource, load_policies, read_policy_files
from authorizer.cedar.schema import SchemaModel, model_from_json, read_schema_file, schema_from_text
from authorizer.errors import ConfigError, PolicyError, SchemaError
from authorizer.records import NamedTuple
from authorizer.stores.entity_graph import Reach
from authorizer.stores.file_slices import (
    FileSlices,
    PrincipalPart,
    context_holds_entities,
    plain_part,
)
from authorizer.stores.store import EntitySet, EntityStore, JsonFileStore, LiveEntities, UidLike
from authorizer.stores.ttl_cache import Lru

logger = logging.getLogger(__name__)

EntityUid = Mapping[str, str]  # {"type": ..., "id": ...}

NO_CANDIDATE_PERMIT = "no candidate permit"
# Handles of at most this many entities whose edges the engine did not record (a live store's
# per-request slice) are read back from Cedar's rendering; larger ones fall back to the action.
SMALL_HANDLE = 512
# Policies kept in the combined policy sets, all sets together (each set counts its policies).
COMBINED_POLICIES = 200_000


class Decision(NamedTuple):
    allowed: bool
    decision: str  # Cedar's answer: Allow, Deny or NoDecision
    determining: tuple[str, ...]  # policy @ids
    errors: tuple[str, ...]
    reason: str = ""  # why Cedar was not asked (NO_CANDIDATE_PERMIT); "" when it answered

    @classmethod
    def failed(cls, error: str) -> Decision:
        return cls(False, "NoDecision", (), (error,))


NO_PERMIT = Decision(False, "Deny", (), (), NO_CANDIDATE_PERMIT)


class Engine:
    def __init__(
        self,
        policies: LoadedPolicies,
        schema: SchemaModel | None,
        entities_json: str = "[]",
        entities_label: str = "entities",
        indexed: bool = True,
        validate_requests: bool = False,
        store: EntityStore | None = None,
        validated: bool = False,  # the policies were validated against this schema already
        entities_validated: bool = False,  # and ``entities_json`` too (the compiled store says)
        deny_without_permit: bool = False,
        index: PolicyIndex[PolicySource] | None = None,  # built from ``policies`` when None
        reach: Reach | None = None,  # entity_graph.reach of the policies, when known
    ) -> None:
        self.policies = policies
        # Checking each request against the schema costs about a third of an evaluation; our
        # mapping shapes every request from the schema already, so it is a debugging aid
        # (CEDAR_VALIDATE_REQUESTS=true), and the test suite proves the two modes decide alike.
        self.validate_requests = validate_requests
        self.model = schema
        self.schema = _cedar_schema(schema) if schema else None
        if self.schema is not None and not validated:
            validate(policies, self.schema, schema)
        self._full: cedarpy.PolicySet | None = None  # every policy: built when first asked for
        # The entity store: given (a live store, read per request), or the JSON entities.
        if store is None:
            store = JsonFileStore(entities_json, self.schema, entities_label, entities_validated)
        store.use_schema(self.schema)
        self.store: EntityStore = store
        self.live: LiveEntities | None = None
        # The whole store as one handle: a JSON file's on first use (requests take slices).
        self._entities: cedarpy.Entities | None = None
        if not isinstance(store, JsonFileStore):
            self._entities = store.preloaded
            if self._entities is None:
                self.live = LiveEntities(store, self.schema, policies.document)
                self._entities = cedarpy.Entities.from_json_str("[]", self.schema)
        self.known_uids: frozenset[tuple[object, object]] = (
            store.known_uids if isinstance(store, JsonFileStore) else frozenset()
        )
        # A JSON file is given to Cedar a slice per request (``authorizer.stores.file_slices``):
        # no handle per caller, whatever the number of callers and the size of the file.
        self.slices: FileSlices | None = None
        if isinstance(store, JsonFileStore):
            holds = context_holds_entities(schema)
            self.slices = FileSlices(store, self.schema, policies.document, holds, reach, schema)
        self.version = policies.version
        self.indexed = indexed  # False: every request against every policy (tests compare)
        self.deny_without_permit = deny_without_permit
        self._groups: dict[Uid, frozenset[Uid]] | None = None
        if schema is not None:
            member_of = {(a.type, a.id): a.member_of for a in schema.actions}
            self._groups = {uid: ancestors_of(uid, member_of) for uid in member_of}
        if index is None:
            static = (s for s in policies.sources.values() if not s.is_template)
            index = PolicyIndex.of(static, groups_known=schema is not None)
        self.index = index
        self._action_keys: dict[Uid, tuple[str, ...]] = {}
        self._sets: Lru[frozenset[int], cedarpy.PolicySet] = Lru(
            COMBINED_POLICIES, weigh=lambda policy_set: len(policy_set) + 1
        )
        # The parent edges of each handle the engine decides with (None: not known), or the
        # entities added to the store to make it, read when the index first needs them.
        self._ancestries: weakref.WeakKeyDictionary[cedarpy.Entities, _Edges] = (
            weakref.WeakKeyDictionary()
        )
        self._store_parents: StoreParents | None = None

    @classmethod
    def load(
        cls,
        policy_dir: Path,
        schema_path: Path | None = None,
        entities_path: Path | None = None,
        links_path: Path | None = None,
        store: EntityStore | None = None,
        use_compiled: bool = True,
    ) -> Engine:
        """The engine of these files; from the compiled store (``authorizer.cedar.compiled``)
        when it was made from exactly these policy and schema files, which skips parsing and
        validating them again."""
        texts = read_policy_files(policy_dir)
        schema_input = (schema_path, read_schema_file(schema_path)) if schema_path else None
        compiled = None
        if use_compiled and links_path is None:  # template links are read at every start
            key = compiled_key(policy_dir, texts, schema_input)
            compiled = read_compiled(policy_dir, key, texts)
        schema = None
        if schema_input is not None:
            path, text = schema_input
            if compiled is not None and compiled.schema_json is not None:
                schema = model_from_json(compiled.schema_json, text, source=str(path))
            else:
                schema = schema_from_text(path, text)
        entities = "[]"
        if entities_path is not None and store is None:
            try:
                entities = entities_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigError(f"{entities_path}: cannot be read: {error}") from None
        policies = compiled.policies if compiled else load_policies(policy_dir, texts)
        if links_path is not None:
            from authorizer.cedar.links import with_template_links  # noqa: PLC0415  # only when used

            policies = with_template_links(policies, links_path)
        return cls(
            policies,
            schema,
            entities,
            str(entities_path),
            store=store,
            validated=compiled is not None,
            deny_without_permit=True,
            index=_compiled_index(compiled, schema),
            reach=compiled.reach if compiled is not None else None,
            entities_validated=compiled is not None
            and entities_path is not None
            and compiled.entities_sha256 == entities_digest(entities),
        )

    @property
    def entities(self) -> cedarpy.Entities:
        """The whole store as one handle (a live store's: empty), parsed when first asked for
        (the backend library's whole-store form, and requests a slice cannot serve)."""
        if self._entities is None:
            assert isinstance(self.store, JsonFileStore)  # the others' is set at start
            self._entities = self.store.preloaded
        return self._entities

    def knows(self, uid: EntityUid) -> bool:
        return (uid.get("type"), uid.get("id")) in self.known_uids

    @property
    def live_store(self) -> bool:
        """True when entities are read per request (then a caller has no handle of its own)."""
        return self.live is not None

    def principal_part(self, extra: Sequence[Mapping[str, Any]]) -> PrincipalPart:
        """What a caller adds to every request (the principal entity, then its groups, as
        ``EntityMapping.principal_entities`` makes them), made once per caller: the entities
        serialised, and with a JSON file the caller's slice of it."""
        if self.slices is None:
            return plain_part(extra)
        return self.slices.principal(extra)

    def entity_set(
        self,
        caller: Sequence[Mapping[str, Any]] | PrincipalPart,
        resources: Sequence[UidLike] = (),
        contexts: Sequence[Mapping[str, Any]] | None = None,
    ) -> EntitySet:
        """The entities for requests about ``resources`` with ``contexts`` (None: not known) by
        ``caller`` (its ``principal_part``, or the entities that make it), with the time until
        which a decision made with them may be reused. A JSON file: the slice of it these
        requests can reach plus the caller's entities; a live store: what it reads for them."""
        if isinstance(caller, PrincipalPart):
            part = caller
        else:
            part = self.principal_part(caller) if self.live is None else plain_part(caller)
        if self.live is not None:
            return self.live.entity_set(part.extra, resources, contexts or ())
        found = self.slices.entity_set(part, resources, contexts) if self.slices else None
        if found is None:  # the policies read entities through a context not given
            return EntitySet(self._whole(part), math.inf)
        self._remember(found.handle, part.fresh)
        return found

    def entities_with(
        self,
        extra: Sequence[Mapping[str, Any]],
        resources: Sequence[UidLike] | None = None,
        contexts: Sequence[Mapping[str, Any]] | None = None,
        stored_principal: UidLike | None = None,
    ) -> cedarpy.Entities:
        """``entity_set``'s handle. With ``resources`` None: the whole store and ``extra``, for a
        caller that adds entities of its own, which may reference any stored entity (built per
        call: a copy of the store, not kept). ``stored_principal``: a principal given by UID
        alone, whose entity is the store's."""
        if self.live is not None:
            found = self.live.entity_set(extra, resources or (), contexts or (), stored_principal)
            return found.handle
        if resources is None:
            return self._whole(self.principal_part(extra))
        if stored_principal is not None:
            resources = [*resources, stored_principal]
        return self.entity_set(extra, resources, contexts).handle

    def _whole(self, part: PrincipalPart) -> cedarpy.Entities:
        """The whole store plus the caller's entities it lacks (a copy of the store)."""
        if not part.fresh:
            return self.entities
        handle = self.entities.with_added_json_str(f"[{part.fresh_json}]")
        self._remember(handle, part.fresh)
        return handle

    def _remember(self, handle: cedarpy.Entities, added: Sequence[Mapping[str, Any]]) -> None:
        """Record that ``handle`` is the JSON store and ``added`` (which the store lacks): the
        index reads the principal's and the resource's ancestors from their edges, worked out
        when a request first needs them (``_ancestry``; an action whose policies are scoped
        to no principal or resource never does)."""
        if self._store() is not None:
            self._ancestries[handle] = tuple(added)

    def _store(self) -> StoreParents | None:
        """The JSON store's parents, read through its ``lookup`` (a file: a dictionary)."""
        if self._store_parents is None and isinstance(self.store, JsonFileStore):
            lookup = self.store.lookup

            def parents(uid: Uid) -> tuple[Uid, ...]:
                found = lookup((uid,))[0].get(uid)
                return found.parents if found is not None else ()

            self._store_parents = StoreParents(parents)
        return self._store_parents

    def _ancestry(self, handle: cedarpy.Entities) -> Ancestry | None:
        """The edges Cedar sees in ``handle``; None when not known."""
        if not isinstance(handle, cedarpy.Entities):
            return None
        added: tuple[Mapping[str, Any], ...] | None = None  # None: not made from the store
        try:
            known = self._ancestries[handle]
        except KeyError:
            pass
        else:
            if not isinstance(known, tuple):
                return known  # read before (None: not known)
            added = known
        found: Ancestry | None = None
        store = self._store() if self.live is None else None
        if added is not None and store is not None:  # the store with these entities added
            # A shape Cedar took and we cannot read: not known, as a handle we did not make.
            with contextlib.suppress(ValueError):
                found = Ancestry(edges_of(added), store)
        if found is None:
            found = self._edges_of_handle(handle, store)
        self._ancestries[handle] = found
        return found

    def _edges_of_handle(
        self, handle: cedarpy.Entities, store: StoreParents | None
    ) -> Ancestry | None:
        """The edges of a handle the engine did not make from the store (or could not read)."""
        if handle is self._entities and store is not None:  # never parses the whole store
            return Ancestry({}, store)
        if len(handle) <= SMALL_HANDLE:
            try:
                return Ancestry(edges_of_handle(str(handle)), None)
            except ValueError:
                return None
        return None

    def decide(self, request: Mapping[str, Any], entities: cedarpy.Entities) -> Decision:
        return self.decide_batch([request], entities)[0]

    @property
    def policy_set(self) -> cedarpy.PolicySet:
        """Every policy, templates and links included (parsed when first asked for)."""
        if self._full is None:
            self._full = self.policies.policy_set()
        return self._full

    def policies_for(self, actions: Iterable[Uid]) -> cedarpy.PolicySet:
        """The policies that can apply to any of ``actions`` (all of them when not indexed)."""
        if not self.indexed:
            return self.policy_set
        return self._policy_set(frozenset(self._action_buckets(actions)))

    def applicable(self, action: Uid) -> list[PolicySource]:
        """The policies whose action scope can match ``action``."""
        found = {s.id: s for b in self._action_buckets([action]) for s in self.index.members(b)}
        return list(found.values())

    def context_reads(self, actions: Iterable[Uid]) -> Reads:
        """The context attributes any policy that can apply to ``actions`` reads (None: the
        context whole), from the index: no policy is read."""
        return self.index.reads(self._action_buckets(actions))

    def _action_buckets(self, actions: Iterable[Uid]) -> tuple[int, ...]:
        return self.index.action_buckets([k for a in actions for k in self._keys_of_action(a)])

    def _keys_of_action(self, action: Uid) -> tuple[str, ...]:
        found = self._action_keys.get(action)
        if found is None:
            groups = self._groups.get(action, frozenset()) if self._groups is not None else ()
            found = self._action_keys[action] = request_action_keys(action, groups)
        return found

    def _policy_set(self, buckets: frozenset[int]) -> cedarpy.PolicySet:
        """The policy set of these buckets, built on first use and kept."""
        found = self._sets.get(buckets)
        if found is None:
            chosen = {s.id: s.json for b in sorted(buckets) for s in self.index.members(b)}
            document = {"staticPolicies": chosen, "templates": {}, "templateLinks": []}
            found = cedarpy.PolicySet.from_json_str(json.dumps(document))
            if len(chosen) < COMBINED_POLICIES:
                self._sets.put(buckets, found)
        return found

    def decide_batch(
        self, requests: Sequence[Mapping[str, Any]], entities: cedarpy.Entities
    ) -> list[Decision]:
        """One cedarpy call for the batch, over the union of the buckets its requests can meet;
        a request whose buckets hold no permit is denied without it (``deny_without_permit``)."""
        decisions: list[Decision] = [NO_PERMIT] * len(requests)
        try:
            todo, policies = self._plan(requests, entities)
            if policies is not None:
                results = cedarpy.is_authorized_batch(
                    [dict(requests[i]) for i in todo],
                    policies,
                    entities,
                    self.schema if self.validate_requests else None,
                )
                for index, result in zip(todo, results, strict=True):
                    decisions[index] = decision_of(result)
        except Exception as error:  # whatever breaks inside, it is a Deny
            logger.exception("cedarpy failed; denying")
            return [Decision.failed(f"engine error: {error}") for _ in requests]
        return decisions

    def _plan(
        self, requests: Sequence[Mapping[str, Any]], entities: cedarpy.Entities
    ) -> tuple[list[int], cedarpy.PolicySet | None]:
        """Which requests Cedar must answer, and the policies it needs for them (None: none).
        Runs per request of a batch (a token-level batch holds every token-level route), so it
        is kept to dictionary lookups: the keys of the principal and of the resource are
        computed once per batch when its requests share them, as a batch's requests do."""
        if not self.indexed:
            return list(range(len(requests))), self.policy_set
        # With request validation on, Cedar must see every request (it may be NoDecision).
        shortcut = self.deny_without_permit and not self.validate_requests
        index, permits, action_keys = self.index, self.index.permits, self._action_keys
        todo: list[int] = []
        union: set[int] = set()
        ancestry: Ancestry | None = None
        ancestry_read = False  # only when an action is scoped
        principal: object = _NOTHING
        resource: object = _NOTHING
        principal_keys: frozenset[str] | None = None
        resource_keys: frozenset[str] | None = None
        for position, request in enumerate(requests):
            action = request["action"]
            uid = (action["type"], action["id"])
            keys = action_keys.get(uid) or self._keys_of_action(uid)
            buckets: Sequence[int] | None = index.unscoped(keys)
            if buckets is None:  # scoped: the principal's and the resource's keys decide
                if not ancestry_read:
                    ancestry, ancestry_read = self._ancestry(entities), True
                if request.get("principal") is not principal or (
                    request.get("resource") is not resource
                ):
                    principal, resource = request.get("principal"), request.get("resource")
                    principal_keys = self._entity_keys(ancestry, principal)
                    resource_keys = self._entity_keys(ancestry, resource)
                    if principal_keys is not None and resource_keys is not None:
                        principal_keys, resource_keys = index.present(principal_keys, resource_keys)
                if principal_keys is None or resource_keys is None:
                    buckets = index.candidates(keys, None, None)
                else:
                    buckets = index.candidates(keys, principal_keys, resource_keys)
            if shortcut:
                for bucket in buckets:
                    if permits[bucket]:
                        break
                else:
                    continue  # no candidate permit: a Deny without Cedar
            todo.append(position)
            union.update(buckets)
        return todo, self._policy_set(frozenset(union)) if todo else None

    def _entity_keys(self, ancestry: Ancestry | None, entity: object) -> frozenset[str] | None:
        """The index keys of a request's principal or resource (None: not known)."""
        uid = uid_of_node(entity)
        if ancestry is None or uid is None:
            return None
        return ancestry.keys(uid)


_NOTHING = object()  # no principal or resource seen yet
# What the engine knows of a handle's edges: read (None: not known), or the entities added to
# the JSON store to make it, not read yet.
_Edges = Ancestry | tuple[Mapping[str, Any], ...] | None


def _compiled_index(
    compiled: Compiled | None, schema: SchemaModel | None
) -> PolicyIndex[PolicySource] | None:
    """The compiled store's index, when it was built as the engine would build it."""
    if compiled is None or compiled.policy_index.tables.groups_known != (schema is not None):
        return None
    return compiled.policy_index


def decision_of(result: cedarpy.AuthzResult) -> Decision:
    """Allow only when Cedar says Allow with no evaluation errors."""
    answer = result.decision.value
    errors = tuple(str(e) for e in result.diagnostics.errors)
    reasons = tuple(str(r) for r in result.diagnostics.reasons)
    return Decision(answer == "Allow" and not errors, answer, reasons, errors)


def validate(
    policies: LoadedPolicies, schema: cedarpy.Schema, model: SchemaModel | None = None
) -> None:
    """Strict validation, so each error names its file, line and @id. With the schema's
    ``model``, many policies are validated in groups by the actions they can apply to
    (``authorizer.cedar.validation``: the same problems, without policies x every action)."""
    # Loaded here: a cold start from the compiled store validates nothing (and the module brings
    # concurrent.futures, ~2 ms of import).
    from authorizer.cedar.validation import problems_of  # noqa: PLC0415

    problems = [problem.text for problem in problems_of(policies, schema, model)]
    if policies.document.get("templateLinks"):
        from authorizer.cedar.links import link_validation_errors  # noqa: PLC0415  # only when used

        for source, message in link_validation_errors(policies, schema, model):
            problems.append(f"{source.file}:{source.line}: linked policy {source.id!r}: {message}")
    if problems:
        raise PolicyError(
            "policies do not validate against the schema:\n  " + "\n  ".join(problems)
        )


def _cedar_schema(model: SchemaModel) -> cedarpy.Schema:
    if model.cedar is not None:
        return model.cedar
    try:
        return cedarpy.Schema.from_json_str(json.dumps(model.json))
    except ValueError as error:
        raise SchemaError(f"schema rejected by Cedar: {error}") from None
