"""Field-level redaction: a document without the fields the caller may not view.

``view_<path>`` actions guard fields (``view_salary`` guards ``salary``; dotted paths nest,
lists and tuples are walked; an object that is neither a mapping nor a sequence is refused), or
an explicit ``{path: action}`` map does; every guarded field of every document is decided in one
batch (``authorizer.sdk.api.decide``). The input is never changed. Anything that fails inside a
decision is a Deny, so the field is removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from authorizer.sdk.api import (
    VIEW_PREFIX,
    Document,
    FieldActions,
    PrincipalLike,
    Resource,
    ResourceLike,
    ResourceOf,
    Uid,
    decide,
    parse_action,
    parse_resource,
    subject,
)

if TYPE_CHECKING:
    from authorizer.pdp import Authorizer


def redact(
    authz: Authorizer,
    documents: Document | Sequence[Document],
    principal: PrincipalLike,
    resources: ResourceOf,
    field_actions: FieldActions = None,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """``documents`` without the fields the principal may not view. One document with one
    resource, or a list with a list of resources (or a function document -> resource). The
    input is never changed: containers along a removed path are copied. It does not decide
    whether the document itself may be seen (``allowed_resources`` does)."""
    single = isinstance(documents, Mapping)
    docs: list[Document] = [documents] if isinstance(documents, Mapping) else list(documents)
    if single:
        targets = [_as_resource(resources)]
    elif callable(resources):
        targets = [resources(d) for d in docs]
    elif isinstance(resources, Sequence) and not isinstance(resources, str):
        targets = list(resources)
    else:
        raise ValueError("a list of documents needs a list of resources (or a function)")
    if len(targets) != len(docs):
        raise ValueError(f"{len(docs)} documents but {len(targets)} resources")
    who = subject(authz, principal)
    parsed = [parse_resource(t) for t in targets]
    fields: dict[str, list[tuple[tuple[str, ...], Uid]]] = {}
    pairs: list[tuple[Uid, Resource]] = []
    where: list[tuple[int, tuple[str, ...]]] = []
    for index, (doc, resource) in enumerate(zip(docs, parsed, strict=True)):
        kind = resource.uid["type"]
        if kind not in fields:
            fields[kind] = guarded_fields(authz, kind, field_actions)
        for path, action in fields[kind]:
            if _present(doc, path):
                pairs.append((action, resource))
                where.append((index, path))
    out = list(docs)
    for (index, path), decision in zip(where, decide(authz, who, pairs, context), strict=True):
        if not decision.allowed:
            out[index] = _without(out[index], path)
    return out[0] if single else out


def _as_resource(value: ResourceOf) -> ResourceLike:
    if isinstance(value, str | Mapping):
        return value
    raise ValueError("one document needs one resource")


def guarded_fields(
    authz: Authorizer, resource_type: str, field_actions: FieldActions
) -> list[tuple[tuple[str, ...], Uid]]:
    """(path, action) of every guarded field. Without a map: every ``view_<path>`` action
    that applies to the resource type (the schema says which; no schema: the policies)."""
    action_type = authz.mapping.action_type
    if field_actions is None:
        return _conventional(authz, resource_type)
    if isinstance(field_actions, Mapping):
        return [(_path(p), parse_action(a, action_type)) for p, a in field_actions.items()]
    if isinstance(field_actions, str):
        raise ValueError("field_actions: a map {path: action} or a list of paths")
    return [(_path(p), {"type": action_type, "id": VIEW_PREFIX + p}) for p in field_actions]


def _conventional(authz: Authorizer, resource_type: str) -> list[tuple[tuple[str, ...], Uid]]:
    action_type = authz.mapping.action_type
    model = authz.engine.model
    if model is not None:
        # An action declared without `appliesTo` guards its field on every type, and is denied
        # on every one (it applies to nothing): the field is removed, never left unguarded.
        ids = [a.id for a in model.actions if a.type == action_type
               and (not a.resource_types or resource_type in a.resource_types)]  # fmt: skip
    else:
        from authorizer.route_building import policy_action_ids  # noqa: PLC0415

        ids = sorted(policy_action_ids(authz.engine.policies, action_type))
    return [
        (_path(i.removeprefix(VIEW_PREFIX)), {"type": action_type, "id": i})
        for i in ids
        if i.startswith(VIEW_PREFIX) and len(i) > len(VIEW_PREFIX)
    ]


def _path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not path or not all(parts):
        raise ValueError(f"not a field path: {path!r}")
    return parts


# Values that hold no fields. Anything else that is neither a mapping nor a sequence (an object
# whose attributes might be the field) is refused, never passed through unredacted.
_LEAVES = (str, bytes, bytearray, int, float, type(None))


def _present(value: Any, path: tuple[str, ...]) -> bool:
    if isinstance(value, Mapping):
        return path[0] in value and (len(path) == 1 or _present(value[path[0]], path[1:]))
    if isinstance(value, _LEAVES):
        return False
    if isinstance(value, Sequence):  # lists, tuples: every item
        return any(_present(item, path) for item in value)
    raise ValueError(
        f"cannot redact {'.'.join(path)!r} inside a {type(value).__name__}: "
        "documents are mappings, sequences and JSON values"
    )


def _without(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, Mapping):
        if path[0] not in value:
            return value
        if len(path) == 1:
            return {k: v for k, v in value.items() if k != path[0]}
        return {**value, path[0]: _without(value[path[0]], path[1:])}
    if isinstance(value, Sequence) and not isinstance(value, _LEAVES):
        items = [_without(item, path) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value
