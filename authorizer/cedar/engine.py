"""The Cedar engine: policies, schema and resource entities parsed once at cold start; each
decision is one cedarpy call on pre-parsed handles with dict-form entity UIDs.

Entities come from an entity store (``authorizer.stores.store``): a JSON file is one handle
parsed at cold start (``self.entities``); a live store (DynamoDB) is read per request, for the
resources and the principal's groups only, through a TTL cache (``entity_set``).

Fail closed: a policy set that does not parse or validate refuses to load (never an allow-all or
deny-all fallback); a decision is Allow only when Cedar says Allow with no evaluation errors; any
exception inside cedarpy is a Deny carrying the error.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import cedarpy
from cachetools import LRUCache

from authorizer.cedar.analysis import Uid, action_scope_matches, ancestors_of
from authorizer.cedar.compiled import compiled_key, read_compiled
from authorizer.cedar.policies import LoadedPolicies, PolicySource, load_policies, read_policy_files
from authorizer.cedar.schema import SchemaModel, model_from_json, read_schema_file, schema_from_text
from authorizer.errors import ConfigError, PolicyError, SchemaError
from authorizer.stores.store import EntitySet, EntityStore, JsonFileStore, LiveEntities, UidLike

logger = logging.getLogger(__name__)

EntityUid = Mapping[str, str]  # {"type": ..., "id": ...}


class Decision(NamedTuple):
    allowed: bool
    decision: str  # Cedar's answer: Allow, Deny or NoDecision
    determining: tuple[str, ...]  # policy @ids
    errors: tuple[str, ...]

    @classmethod
    def failed(cls, error: str) -> Decision:
        return cls(False, "NoDecision", (), (error,))


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
    ) -> None:
        self.policies = policies
        # Checking each request against the schema costs about a third of an evaluation; our
        # mapping shapes every request from the schema already, so it is a debugging aid
        # (CEDAR_VALIDATE_REQUESTS=true), and the test suite proves the two modes decide alike.
        self.validate_requests = validate_requests
        self.model = schema
        self.schema = _cedar_schema(schema) if schema else None
        if self.schema is not None and not validated:
            validate(policies, self.schema)
        self.policy_set = policies.policy_set()
        # The entity store: given (a live store, read per request), or the JSON entities.
        if store is None:
            store = JsonFileStore(entities_json, self.schema, entities_label)
        store.use_schema(self.schema)
        self.store: EntityStore = store
        preloaded = store.preloaded
        self.live: LiveEntities | None = None
        if preloaded is None:
            self.live = LiveEntities(store, self.schema, policies.document)
            preloaded = cedarpy.Entities.from_json_str("[]", self.schema)
        self.entities: cedarpy.Entities = preloaded
        self.known_uids: frozenset[tuple[object, object]] = (
            store.known_uids if isinstance(store, JsonFileStore) else frozenset()
        )
        self.version = policies.version
        # Policy indexing: each action (or set of actions in a batch) gets the policy set of the
        # policies whose action scope can match it, built on first use and kept.
        self.indexed = indexed
        self._groups: dict[Uid, frozenset[Uid]] | None = None
        if schema is not None:
            member_of = {(a.type, a.id): a.member_of for a in schema.actions}
            self._groups = {uid: ancestors_of(uid, member_of) for uid in member_of}
        self._subsets: dict[frozenset[Uid], cedarpy.PolicySet] = {}
        self._handles: LRUCache[str, cedarpy.Entities] = LRUCache(maxsize=4096)

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
        )

    def knows(self, uid: EntityUid) -> bool:
        return (uid.get("type"), uid.get("id")) in self.known_uids

    @property
    def live_store(self) -> bool:
        """True when entities are read per request (then a caller has no handle of its own)."""
        return self.live is not None

    def entity_set(
        self, extra: Sequence[Mapping[str, Any]], resources: Sequence[UidLike] = ()
    ) -> EntitySet:
        """The entities for a request about ``resources`` by the principal in ``extra`` (the
        principal entity, then its groups, as ``EntityMapping.principal_entities`` makes them),
        with the time until which a decision made with them may be reused."""
        if self.live is None:
            return EntitySet(self.entities_with(extra), math.inf)
        return self.live.entity_set(extra, resources)

    def entities_with(
        self, extra: Sequence[Mapping[str, Any]], resources: Sequence[UidLike] = ()
    ) -> cedarpy.Entities:
        """The resource store plus per-request entities (principal, groups) not already in it.
        Handles are kept per distinct delta: a user's next token (a refresh) with the same
        attributes reuses the handle, whose first evaluation costs cedarpy more than later ones.
        A JSON file holds every resource already; a live store reads ``resources``."""
        if self.live is not None:
            return self.live.entity_set(extra, resources).handle
        fresh = [e for e in extra if not self.knows(e["uid"])]
        if not fresh:
            return self.entities
        delta = json.dumps(fresh, sort_keys=True)
        handle = self._handles.get(delta)
        if handle is None:
            handle = self.entities.with_added_json_str(delta)
            self._handles[delta] = handle
        return handle

    def decide(self, request: Mapping[str, Any], entities: cedarpy.Entities) -> Decision:
        return self.decide_batch([request], entities)[0]

    def policies_for(self, actions: frozenset[Uid]) -> cedarpy.PolicySet:
        """The policies that can apply to any of ``actions`` (all of them when not indexed)."""
        if not self.indexed:
            return self.policy_set
        subset = self._subsets.get(actions)
        if subset is None:
            chosen = {s.id: s.json for action in actions for s in self.applicable(action)}
            document = {"staticPolicies": chosen, "templates": {}, "templateLinks": []}
            subset = cedarpy.PolicySet.from_json_str(json.dumps(document))
            self._subsets[actions] = subset
        return subset

    def applicable(self, action: Uid) -> list[PolicySource]:
        """The policies whose action scope can match ``action``."""
        ancestors = self._ancestors(action)
        return [
            source
            for source in self.policies.sources.values()
            if not source.is_template
            and action_scope_matches(source.json.get("action", {}), action, ancestors)
        ]

    def _ancestors(self, action: Uid) -> frozenset[Uid] | None:
        if self._groups is None:
            return None
        return self._groups.get(action, frozenset())

    def decide_batch(
        self, requests: Sequence[Mapping[str, Any]], entities: cedarpy.Entities
    ) -> list[Decision]:
        """One cedarpy call per distinct action, each with that action's policies only, so the
        cost stays flat as policies for other actions are added."""
        by_action: dict[Uid, list[int]] = {}
        for index, request in enumerate(requests):
            action = request["action"]
            by_action.setdefault((action["type"], action["id"]), []).append(index)
        decisions: list[Decision] = [Decision.failed("not evaluated")] * len(requests)
        try:
            for action, indexes in by_action.items():
                results = cedarpy.is_authorized_batch(
                    [dict(requests[i]) for i in indexes],
                    self.policies_for(frozenset({action})),
                    entities,
                    self.schema if self.validate_requests else None,
                )
                for index, result in zip(indexes, results, strict=True):
                    decisions[index] = decision_of(result)
        except Exception as error:  # whatever breaks inside, it is a Deny
            logger.exception("cedarpy failed; denying")
            return [Decision.failed(f"engine error: {error}") for _ in requests]
        return decisions


def decision_of(result: cedarpy.AuthzResult) -> Decision:
    """Allow only when Cedar says Allow with no evaluation errors."""
    answer = result.decision.value
    errors = tuple(str(e) for e in result.diagnostics.errors)
    reasons = tuple(str(r) for r in result.diagnostics.reasons)
    return Decision(answer == "Allow" and not errors, answer, reasons, errors)


def validate(policies: LoadedPolicies, schema: cedarpy.Schema) -> None:
    """Strict validation, file by file, so each error names its file, line and @id."""
    problems: list[str] = []
    by_file: dict[Path, dict[str, str]] = {}
    for source in policies.sources.values():
        by_file.setdefault(source.file, {})[source.cedar_id] = source.id
    for path, text in policies.files.items():
        result = cedarpy.validate_policies(text, schema)
        for error in result.errors:
            policy_id = by_file.get(path, {}).get(error.policy_id, error.policy_id)
            found = policies.sources.get(policy_id)
            where = f"{path}:{found.line}" if found else str(path)
            problems.append(f"{where}: policy {policy_id!r}: {error.error}")
        if not result.validation_passed and not result.errors:
            problems.append(f"{path}: validation failed")
    if policies.document.get("templateLinks"):
        from authorizer.cedar.links import link_validation_errors  # noqa: PLC0415  # only when used

        for source, message in link_validation_errors(policies, schema):
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
