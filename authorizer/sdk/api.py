"""The backend API: the gateway's engine asked by the services behind it (docs/architecture.md,
Interfaces users rely on). ``Authorizer`` exposes these as thin methods; the logic is here.

- ``is_authorized`` / ``authorize_token``: one decision about the resource the backend actually
  loaded (pass the entity, ``{"uid", "attrs", "parents"}`` in Cedar JSON form, and it is
  decided with those attributes, not the store's), so a bug in one layer cannot leak across
  tenants.
- ``decide_actions`` / ``allowed_actions``: which of these actions may the caller take on this
  resource (show or hide a button); ``decide_resources`` / ``allowed_resources``: which of
  these resources may the caller act on (filter a list). Each is ONE cedarpy
  ``is_authorized_batch`` call with the policies of all the actions asked about.
- ``redact`` (``authorizer.sdk.redaction``): remove the fields whose view action is denied.

Inputs. A principal is a bearer token (verified like the gateway does), a ``Caller`` or
``Subject`` already resolved, an entity UID (``{"type", "id"}``, ``{"__entity": ...}`` or the
text ``Ns::Type::"id"``, which Cedar parses: nothing in it can smuggle syntax) or an entity dict
with attributes. A string is a UID when it contains ``::``, a token otherwise (a JWT never does).
An action is a UID, or a bare action id (``"view_salary"``) in the configured namespace. A
resource is a UID or an entity dict. An entity dict (principal or resource) is what the backend
loaded itself: it replaces the entity store's version of the same uid, its parents and
attributes decide.

The transfer button (the sample app). ``transfers-initiate`` reads ``context.amount``: a request
without an amount is denied, as at the gateway. A UI asks ``allowed_actions`` with the amount it
would send when it has one (the form's value); to decide whether to show the button at all it
asks with ``TRANSFER_PROBE`` (``{"amount": 1}``, the smallest transfer): "may this user transfer
anything from this account". The same policy answers both; the transfer itself is re-checked
with the amount of the request body (``authorizer.tooling.local.sample_backend``).

Fail closed: a decision is Allow only when Cedar says Allow with no errors; anything that breaks
while building or evaluating the requests is a Deny carrying the error (a redaction then removes
the field). Malformed arguments (a UID that does not parse) raise ``ValueError``; an invalid
token raises ``Unauthorized`` (401, not 403); an unreachable JWKS or entity store raises
``DependencyError`` (500, never a Deny that could be cached).
"""

from __future__ import annotations

import functools
import json
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import cedarpy

from authorizer.cedar.analysis import context_reads as analysis_reads
from authorizer.cedar.coerce import DROPPED, given_record
from authorizer.cedar.engine import Decision, Engine, decision_of
from authorizer.cedar.uids import parse_uid
from authorizer.errors import DependencyError, Unauthorized
from authorizer.limits import INCOMPLETE_CLAIM
from authorizer.stores.entity_graph import stored_entity, uid_dict
from authorizer.stores.file_slices import implicit_forms
from authorizer.stores.store import LiveEntities

if TYPE_CHECKING:
    from authorizer.pdp import Authorizer, Caller

logger = logging.getLogger(__name__)

Uid: TypeAlias = dict[str, str]
Key: TypeAlias = tuple[str, str]
PrincipalLike: TypeAlias = "str | Mapping[str, Any] | Caller | Subject"
ActionLike: TypeAlias = str | Mapping[str, str]
ResourceLike: TypeAlias = str | Mapping[str, Any]
Document: TypeAlias = Mapping[str, Any]
FieldActions: TypeAlias = Mapping[str, ActionLike] | Iterable[str] | None
ResourceOf: TypeAlias = "ResourceLike | Sequence[ResourceLike] | Callable[[Document], ResourceLike]"

VIEW_PREFIX = "view_"
TRANSFER_PROBE: Mapping[str, Any] = {"amount": 1}


@dataclass(frozen=True)
class Subject:
    """Who asks: the principal UID, the entities to add for it (itself and its groups, as
    ``EntityMapping.principal_entities`` makes them), its claims and verified token if any."""

    principal: Uid
    extra: tuple[Mapping[str, Any], ...] = ()
    claims: Mapping[str, Any] | None = None
    caller: Caller | None = None
    # The principal as an entity the backend loaded itself: it replaces the store's version of
    # the same uid, as a resource given as an entity does (its parents and attributes decide).
    entity: Resource | None = None


@dataclass(frozen=True)
class Resource:
    uid: Uid
    entity: str | None = None  # canonical Cedar JSON of an entity the backend loaded itself
    roots: tuple[tuple[str, str], ...] = ()  # its parents and references (for a slice)


# --- inputs ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _uid_text(text: str) -> tuple[str, str]:
    uid = parse_uid(text)  # Cedar's parser; UidError (a ValueError) names the problem
    return uid["type"], uid["id"]


def parse_action(value: ActionLike, action_type: str) -> Uid:
    if isinstance(value, str):
        if "::" in value and value.endswith('"'):
            kind, ident = _uid_text(value)
            return {"type": kind, "id": ident}
        return {"type": action_type, "id": value}
    return parse_uid(value)


def parse_resource(value: ResourceLike) -> Resource:
    if isinstance(value, str):
        kind, ident = _uid_text(value)
        return Resource({"type": kind, "id": ident})
    if isinstance(value, Mapping) and "uid" in value:
        stored = stored_entity(value)  # shape checked, canonical JSON; ValueError otherwise
        return Resource(uid_dict(stored.uid), stored.json, (*stored.parents, *stored.references))
    return Resource(parse_uid(value))


def subject(
    authz: Authorizer, principal: PrincipalLike, claims: Mapping[str, Any] | None = None
) -> Subject:
    """Resolve a principal. A token is verified (cached until its ``exp``)."""
    from authorizer.pdp import Caller  # noqa: PLC0415  # pdp imports this module

    token = isinstance(principal, str) and "::" not in principal
    if claims is not None and (token or isinstance(principal, Subject | Caller)):
        # A token's own (verified) claims name the caller: others given beside it were
        # ignored here, yet picked the policy bundle (another tenant's).
        raise ValueError("give the principal as a token or with claims, not both")
    if isinstance(principal, Subject):
        return principal
    if isinstance(principal, str) and "::" not in principal:
        principal = authz.verify(principal)
    if isinstance(principal, Caller):
        claims = principal.token.claims
        return Subject(dict(principal.principal), (), claims, principal)
    if isinstance(principal, Mapping) and "uid" in principal:
        if claims is not None:
            raise ValueError("give the principal as an entity or with claims, not both")
        stored = stored_entity(principal)
        uid = uid_dict(stored.uid)
        roots = (*stored.parents, *stored.references)
        return Subject(uid, entity=Resource(uid, stored.json, roots))
    uid = parse_resource(principal).uid if isinstance(principal, str) else parse_uid(principal)
    if claims is None:
        return Subject(uid)
    try:  # the mapping of the issuer the claims name (with one issuer, they may name none)
        mapping = authz.issuers.mapping_of(claims)
    except Unauthorized:
        raise ValueError("the claims' iss names no trusted issuer") from None
    if mapping.principal_uid(claims) != uid:
        raise ValueError("the principal is not the one the claims name")
    if INCOMPLETE_CLAIM in claims:  # as a token carrying them is refused (identity.tokens)
        raise ValueError("the claims are marked incomplete by the pre-token hook: refused")
    return Subject(uid, tuple(mapping.principal_entities(claims, authz.engine.knows)), claims)


# --- the engine-free batch ---------------------------------------------------------------------


def evaluate(
    requests: list[dict[str, Any]],
    policies: cedarpy.PolicySet,
    entities: cedarpy.Entities,
    schema: cedarpy.Schema | None = None,
) -> list[Decision]:
    """ONE ``cedarpy.is_authorized_batch`` call; any failure is a Deny for every request."""
    if not requests:
        return []
    try:
        results = cedarpy.is_authorized_batch(requests, policies, entities, schema)
        if len(results) != len(requests):
            raise RuntimeError(f"{len(results)} answers for {len(requests)} requests")
    except Exception as error:  # whatever breaks inside, it is a Deny
        logger.exception("cedarpy failed; denying")
        return [Decision.failed(f"engine error: {error}") for _ in requests]
    return [decision_of(result) for result in results]


def decide(
    authz: Authorizer,
    who: Subject,
    pairs: Sequence[tuple[Uid, Resource]],
    context: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
) -> list[Decision]:
    """One decision per (action, resource) pair, all in one cedarpy call. ``request`` is the
    ``context.request`` record the caller built from its own HTTP request (trusted)."""
    verdicts = [_out_of_scope(authz, who, action, resource) for action, resource in pairs]
    todo = [i for i, verdict in enumerate(verdicts) if verdict is None]
    if not todo:
        return [v for v in verdicts if v is not None]
    engine = authz.engine
    try:
        keys = frozenset((pairs[i][0]["type"], pairs[i][0]["id"]) for i in todo)
        reads = context_reads(engine, keys)
        contexts: dict[Key, str] = {}  # one JSON text per action, shared by its requests
        requests: list[dict[str, Any]] = []
        for action, resource in (pairs[i] for i in todo):
            key = (action["type"], action["id"])
            shaped = contexts.get(key)
            if shaped is None:
                shaped = contexts[key] = _context(authz, who, action, context, request, reads)
            requests.append({"principal": who.principal, "action": action,
                             "resource": resource.uid, "context": shaped})  # fmt: skip
        entities = _entities(authz, who, [pairs[i][1] for i in todo], contexts.values())
        policies = engine.policies_for(keys)
    except (Unauthorized, DependencyError):
        raise
    except Exception as error:  # a bad entity, a cycle, a duplicate: a Deny, loudly
        logger.exception("backend request could not be built; denying")
        return [Decision.failed(f"request error: {error}") for _ in pairs]
    schema = engine.schema if engine.validate_requests else None
    for index, decision in zip(todo, evaluate(requests, policies, entities, schema), strict=True):
        if decision.decision == "NoDecision":
            logger.error("backend request does not fit the schema (a bug to fix): %s",
                         "; ".join(decision.errors))  # fmt: skip
        verdicts[index] = decision
    return [v if v is not None else Decision.failed("not evaluated") for v in verdicts]


def _out_of_scope(
    authz: Authorizer, who: Subject, action: Uid, resource: Resource
) -> Decision | None:
    """A Deny, without asking Cedar, for an action the schema does not declare or that does not
    apply to these principal and resource types (a broad ``permit`` must not reach it)."""
    model = authz.engine.model
    if model is None:
        return None
    definition = model.action(action["type"], action["id"])
    if definition is None:
        return Decision(False, "Deny", (), (f"action {action['id']!r} is not in the schema",))
    kinds = (who.principal["type"], resource.uid["type"])
    # Empty (an action declared without `appliesTo`): it applies to nothing, as Cedar reads it.
    if (kinds[0] not in definition.principal_types) or (kinds[1] not in definition.resource_types):
        return Decision(False, "Deny", (), (f"action {action['id']!r} does not apply to {kinds}",))
    for uid in (who.principal, resource.uid):
        if authz.mapping.not_in_enum(uid):  # as the gateway: Cedar builds no such request
            why = f"{uid['type']} has no entity {uid['id'][:64]!r} (an enumerated type)"
            return Decision(False, "Deny", (), (why,))
    return None


_slicers: weakref.WeakKeyDictionary[Engine, LiveEntities] = weakref.WeakKeyDictionary()


def _fits_the_schema(engine: Engine, texts: Sequence[str]) -> None:
    """Entities the backend loaded itself (JSON texts) as Cedar reads them against the schema:
    `"public": "false"` for a Bool, an undeclared attribute or a parent of a type the schema
    does not allow made Cedar, given the schema, decide nothing, where the library decided on
    them and a forbid on `resource.public == false` did not hold. ``ValueError`` naming why."""
    try:
        cedarpy.Entities.from_json_str(
            "[" + ",".join(dict.fromkeys(texts)) + "]", schema=engine.schema
        )
    except ValueError as error:
        raise ValueError(f"an entity given does not fit the schema: {error}") from None


def _explicit(engine: Engine, text: str) -> None:
    """A principal the backend loaded is added as the caller's own entity, as the token's are:
    without the schema. So a form only the schema reads is refused in it (``ValueError``): a
    reference written `{"type": .., "id": ..}` (a record without the schema: `principal.mgr
    == principal` was false, past a forbid), an extension value as text where the schema
    declares one. Cedar's explicit forms, `{"__entity": ..}` and `{"__extn": ..}`, mean the
    same either way (``file_slices.implicit_forms`` tells them apart, as for the file's)."""
    if implicit_forms(json.loads(text), engine.model):
        raise ValueError(
            'write entity references as {"__entity": ..} and extension values as '
            '{"__extn": ..} in a principal entity given: it is read without the schema'
        )


def _entities(
    authz: Authorizer, who: Subject, resources: Sequence[Resource], contexts: Iterable[str] = ()
) -> cedarpy.Entities:
    """The store's entities, the principal's, and the entities the backend loaded itself (which
    replace the store's own version of the same uid). A live store also reads the entities the
    requests' ``contexts`` (JSON texts) reference."""
    engine, caller = authz.engine, who.caller
    texts = list(contexts)
    # (A JSON file's slices are given no contexts: they take the whole file when they need one.)
    given = [json.loads(c) for c in texts] if engine.live_store else None
    inline: dict[tuple[str, str], str] = {}
    for resource in resources:
        if resource.entity is not None:
            key = (resource.uid["type"], resource.uid["id"])
            if inline.setdefault(key, resource.entity) != resource.entity:
                raise ValueError(f"two different entities for {key[0]}::{key[1]!r}")
    stored = [r.uid for r in resources if r.entity is None]
    given_entities = [*inline.values()]
    if who.entity is not None and who.entity.entity is not None:
        given_entities.append(who.entity.entity)
    if engine.schema is not None and given_entities:
        _fits_the_schema(engine, given_entities)
    if who.entity is not None and who.entity.entity is not None:
        _explicit(engine, who.entity.entity)
    if caller is not None and caller.entities is not None and not inline:
        return caller.entities  # built once per token, with the principal and its groups
    extra: list[Mapping[str, Any]] = list(who.extra)
    if caller is not None and not extra:
        claims = caller.token.claims
        mapping = authz.issuers.mapping_of(claims)
        extra = list(caller.extra or mapping.principal_entities(claims, authz.engine.knows))
    # The principal as the backend loaded it: a slice of the store leaves the store's version
    # out and adds this one (a JSON file's own users otherwise win, as they do over tokens).
    # (Added as the caller's own entity, without the schema: ``_explicit`` refused the forms
    # only the schema reads.)
    loaded = who.entity.entity if who.entity is not None else None
    mine_instead = loaded is not None and engine.knows(who.principal)
    if loaded is not None:
        own = (who.principal["type"], who.principal["id"])
        if inline.get(own, loaded) != loaded:
            raise ValueError(f"two different entities for {own[0]}::{own[1]!r}")
        inline.pop(own, None)
        extra = [json.loads(loaded)]
    # A principal given by UID alone: the store reads it, as deep as policies read through it.
    by_uid = who.principal if not extra else None
    if not inline and not mine_instead:
        return engine.entities_with(extra, stored, given, by_uid)
    delta = "[" + ",".join(inline.values()) + "]"
    mine = {(e["uid"]["type"], e["uid"]["id"]) for e in extra}
    if (
        not mine_instead
        and not engine.live_store
        and not any(engine.knows(uid_dict(k)) or k in mine for k in inline)
    ):
        base = caller.entities if caller and caller.entities else engine.entities_with(extra)
        # Read with the schema: an entity reference written `{"type":..,"id":..}`, an ip or a
        # decimal as text are Cedar's implicit forms, a record and strings without it.
        return base.with_added_json_str(delta, engine.schema)
    # The store has its own version of an entity the backend loaded: a slice of the store around
    # what the requests need (as a live store builds), then the backend's entities. A stored
    # entity of the slice with the uid of one of them is a duplicate: cedarpy refuses it
    # (ValueError) and the request is denied.
    roots = [*stored, *(uid_dict(k) for r in resources for k in r.roots if k not in inline)]
    slicer = engine.live or _slicers.get(engine)
    if slicer is None:
        slicer = LiveEntities(engine.store, engine.schema, engine.policies.document)
        _slicers[engine] = slicer
    parsed = given if given is not None else [json.loads(c) for c in texts]
    handle = slicer.entity_set(extra, roots, parsed, by_uid).handle
    return handle.with_added_json_str(delta, engine.schema) if inline else handle


def _context(
    authz: Authorizer,
    who: Subject,
    action: Uid,
    given: Mapping[str, Any] | None,
    request: Mapping[str, Any] | None,
    reads: frozenset[str] | None,
) -> str:
    """The context (as Cedar JSON text) shaped to the action's declared type (undeclared keys
    dropped, values coerced: ``"1200"`` becomes a Long), with ``token`` from the verified claims.
    Attributes no policy of the batch reads (``reads``; None: all) are left out, as the gateway
    does: Cedar converts every attribute it is given, and these cannot change a decision."""
    wanted = (lambda name: True) if reads is None else reads.__contains__
    model = authz.engine.model
    definition = model.action(action["type"], action["id"]) if model else None
    raw = {k: v for k, v in (given or {}).items() if wanted(k)}
    if request is not None and wanted("request"):
        raw.setdefault("request", request)
    token: Any = DROPPED
    if who.claims is not None:
        raw.pop("token", None)
        if wanted("token"):
            shape = authz.mapping.token_shape(definition)
            token = who.caller.token_records.get(shape) if who.caller else None
            if token is None:
                token = authz.mapping.token_record(who.claims, definition)
                if who.caller is not None:
                    who.caller.token_records[shape] = token
    # As at the gateway: what the caller gave is all there or refused.
    if definition is None:  # no schema (or an undeclared action): plain JSON values only
        plain = {k: v for k, v in raw.items() if k != "request"}
        shaped = given_record(plain, None, given or (), "context attribute")
        if "request" in raw and "request" not in (given or {}):
            shaped["request"] = dict(raw["request"])  # ours, built from the HTTP request
    else:
        shaped = given_record(raw, definition.context, given or (), "context attribute")
    if token is not DROPPED:
        shaped["token"] = token
    return json.dumps(shaped)


_reads: weakref.WeakKeyDictionary[Engine, dict[frozenset[Key], frozenset[str] | None]] = (
    weakref.WeakKeyDictionary()
)


def context_reads(engine: Engine, actions: frozenset[Key]) -> frozenset[str] | None:
    """What the policies of ``actions`` read of the context (None: all of it; with request
    validation on, the schema wants every declared attribute)."""
    if engine.validate_requests:
        return None
    known = _reads.setdefault(engine, {})
    if actions not in known:
        found: set[str] = set()
        for action in actions:
            for source in engine.applicable(action):
                reads = analysis_reads(source.json)
                if reads is None:
                    known[actions] = None
                    return None
                found |= reads
        known[actions] = frozenset(found)
    return known[actions]


# --- the operations (``Authorizer``'s methods delegate here) -----------------------------------


def is_authorized(
    authz: Authorizer,
    principal: PrincipalLike,
    action: ActionLike,
    resource: ResourceLike,
    context: Mapping[str, Any] | None = None,
    claims: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
) -> Decision:
    who = subject(authz, principal, claims)
    uid = parse_action(action, authz.mapping.action_type)
    return decide(authz, who, [(uid, parse_resource(resource))], context, request)[0]


def authorize_token(
    authz: Authorizer,
    token: str,
    action: ActionLike,
    resource: ResourceLike | None,
    context: Mapping[str, Any] | None = None,
    resource_entity: Mapping[str, Any] | None = None,
) -> Decision:
    if not isinstance(token, str) or "::" in token:
        raise Unauthorized("malformed", "a bearer token is expected")
    target = _one_resource(resource, resource_entity)
    who = subject(authz, authz.verify(token))
    uid = parse_action(action, authz.mapping.action_type)
    return decide(authz, who, [(uid, target)], context)[0]


def _one_resource(resource: ResourceLike | None, entity: Mapping[str, Any] | None) -> Resource:
    if entity is None:
        if resource is None:
            raise ValueError("a resource or a resource entity is needed")
        return parse_resource(resource)
    loaded = parse_resource(entity)
    if loaded.entity is None:
        raise ValueError("resource_entity must be an entity: {uid, attrs, parents}")
    if resource is not None and parse_resource(resource).uid != loaded.uid:
        raise ValueError("resource and resource_entity name different entities")
    return loaded


def decide_actions(
    authz: Authorizer,
    principal: PrincipalLike,
    resource: ResourceLike,
    actions: Iterable[ActionLike],
    context: Mapping[str, Any] | None = None,
) -> dict[str, Decision]:
    """Every action's decision, keyed by the action as given (a string) or its id (a UID)."""
    who = subject(authz, principal)
    target = parse_resource(resource)
    keyed = [(_action_key(a), parse_action(a, authz.mapping.action_type)) for a in actions]
    decisions = decide(authz, who, [(uid, target) for _, uid in keyed], context)
    return {key: decision for (key, _), decision in zip(keyed, decisions, strict=True)}


def allowed_actions(
    authz: Authorizer,
    principal: PrincipalLike,
    resource: ResourceLike,
    actions: Iterable[ActionLike],
    context: Mapping[str, Any] | None = None,
) -> list[str]:
    """The allowed ones, in the order asked (keys as ``decide_actions``)."""
    decided = decide_actions(authz, principal, resource, actions, context)
    return [key for key, decision in decided.items() if decision.allowed]


def _action_key(action: ActionLike) -> str:
    return action if isinstance(action, str) else str(parse_uid(action)["id"])


def decide_resources(
    authz: Authorizer,
    principal: PrincipalLike,
    action: ActionLike,
    resources: Iterable[ResourceLike],
    context: Mapping[str, Any] | None = None,
) -> list[Decision]:
    """One decision per resource, in order."""
    who = subject(authz, principal)
    uid = parse_action(action, authz.mapping.action_type)
    return decide(authz, who, [(uid, parse_resource(r)) for r in resources], context)


def allowed_resources(
    authz: Authorizer,
    principal: PrincipalLike,
    action: ActionLike,
    resources: Iterable[ResourceLike],
    context: Mapping[str, Any] | None = None,
) -> list[ResourceLike]:
    """The resources (as given) the action is allowed on, in order."""
    given = list(resources)
    decisions = decide_resources(authz, principal, action, given, context)
    return [r for r, d in zip(given, decisions, strict=True) if d.allowed]
