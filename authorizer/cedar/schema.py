"""A Cedar schema's structure, resolved: what the route table and claim coercion read.

cedarpy validates schemas but cannot show what is in them, so the schema is read here, in either
of Cedar's formats, into one JSON document (Cedar's JSON schema format, which cedarpy takes back)
and from that into a small typed model in which every name is resolved the way Cedar resolves it:
common types are inlined, entity names fully qualified, and an `EntityOrCommon` name is tried as
a common type in the current namespace, then as an entity type there, then the same two in the
empty namespace, and last as a builtin (`Long`, `String`, `Bool`, `ipaddr`, `decimal`,
`datetime`, `duration`, or any of them spelled `__cedar::...`).

Cedar is the judge of validity: every document goes through cedarpy before we read it, and every
failure surfaces as ``SchemaError``.

Collections in the model come in a canonical order (namespaces, entity types and actions sorted
by name) so that the same schema gives an equal model whichever format or layout it was written
in; ``SchemaModel.json`` and ``.text`` keep the source and take no part in equality.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import cedarpy

from authorizer.errors import SchemaError
from authorizer.records import NamedTuple

__all__ = [
    "ActionDef",
    "Attribute",
    "CedarType",
    "EntityRef",
    "EntityTypeDef",
    "ExtensionType",
    "Primitive",
    "RecordType",
    "SchemaModel",
    "SetType",
    "cedarschema_to_json",
    "load_schema",
    "model_from_json",
    "read_schema_file",
    "schema_from_text",
]


# The schema's types are NamedTuples, not dataclasses: a frozen dataclass costs about 1 ms
# of import each (its methods are compiled from source), and these sit on the cold start path.
def _same_type_equal(self: tuple[Any, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)


def _same_type_unequal(self: tuple[Any, ...], other: object) -> bool:
    return not _same_type_equal(self, other)


def _typed_hash(self: tuple[Any, ...]) -> int:
    return hash((type(self), tuple.__hash__(self)))


class Primitive(NamedTuple):
    name: Literal["String", "Long", "Boolean"]


class SetType(NamedTuple):
    element: CedarType


class Attribute(NamedTuple):
    type: CedarType
    required: bool = True


class RecordType(NamedTuple):
    attributes: Mapping[str, Attribute]
    additional_attributes: bool = False

    def __hash__(self) -> int:  # a Mapping is unhashable; keep every CedarType usable as a key
        return hash((RecordType, frozenset(self.attributes.items()), self.additional_attributes))


class EntityRef(NamedTuple):
    name: str  # fully qualified, e.g. "Corp::User"
    # An enumerated entity type's ids (`entity Region enum ["eu", "us"]`): the only ones it has.
    choices: tuple[str, ...] | None = None


class ExtensionType(NamedTuple):
    name: Literal["ipaddr", "decimal", "datetime", "duration"]


CedarType: TypeAlias = Primitive | SetType | RecordType | EntityRef | ExtensionType


def type_name(cedar_type: CedarType) -> str:
    """How Cedar's schema syntax writes ``cedar_type`` (for messages): ``Set<Long>``."""
    if isinstance(cedar_type, SetType):
        return f"Set<{type_name(cedar_type.element)}>"
    if isinstance(cedar_type, RecordType):
        return "record"
    return cedar_type.name


# A NamedTuple equals any tuple with the same items; schema types must not (Primitive("X") is not
# EntityRef("X")): they key caches. Set after the class bodies, where NamedTuple allows no
# assignments.
for _type in (Primitive, SetType, Attribute, RecordType, EntityRef, ExtensionType):
    setattr(_type, "__eq__", _same_type_equal)  # noqa: B010
    setattr(_type, "__ne__", _same_type_unequal)  # noqa: B010
    if _type is not RecordType:  # its own __hash__: a Mapping is unhashable
        setattr(_type, "__hash__", _typed_hash)  # noqa: B010

EMPTY_RECORD = RecordType(MappingProxyType({}))


class EntityTypeDef(NamedTuple):
    name: str  # fully qualified
    attributes: RecordType
    member_of: tuple[str, ...]  # fully qualified parent entity types
    annotations: Mapping[str, str]
    enum: tuple[str, ...] | None = None  # the only ids an enumerated entity type allows
    tags: CedarType | None = None


class ActionDef(NamedTuple):
    type: str  # e.g. "Corp::Action"; "Action" in the empty namespace
    id: str  # e.g. "get /employees/{employeeId}"
    principal_types: tuple[str, ...]  # empty when the action has no appliesTo
    resource_types: tuple[str, ...]
    context: RecordType
    annotations: Mapping[str, str]
    member_of: tuple[tuple[str, str], ...]  # (action type, id) of each group


class SchemaModel:
    """The schema as this package reads it; equal when the types and actions are."""

    __slots__ = (
        "_by_uid", "actions", "cedar", "entity_types", "enumerated", "json", "namespaces", "text",
    )  # fmt: skip

    def __init__(
        self,
        namespaces: tuple[str, ...],  # "" is the empty namespace
        entity_types: Mapping[str, EntityTypeDef],
        actions: tuple[ActionDef, ...],
        json: Mapping[str, Any],  # the JSON form, for cedarpy
        text: str | None = None,  # the .cedarschema text
        cedar: cedarpy.Schema | None = None,  # Cedar's parse, kept so nothing parses it again
    ) -> None:
        self.namespaces = namespaces
        self.entity_types = entity_types
        self.actions = actions
        self.json = json
        self.text = text
        self.cedar = cedar
        self._by_uid = {(a.type, a.id): a for a in actions}
        # Enumerated entity types' ids, by type (most schemas have none: an empty dict).
        self.enumerated: Mapping[str, frozenset[str]] = {
            name: frozenset(t.enum) for name, t in entity_types.items() if t.enum is not None
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SchemaModel):
            return NotImplemented
        mine = (self.namespaces, self.entity_types, self.actions)
        return mine == (other.namespaces, other.entity_types, other.actions)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking Mappings inside

    def __repr__(self) -> str:
        return f"SchemaModel(namespaces={self.namespaces!r}, actions={len(self.actions)})"

    @property
    def default_namespace(self) -> str:
        """The application's namespace: of the namespaces declaring actions, the first that
        declares a `User` (the principal type the mapping names; the empty namespace too), else
        the first named one, else "".
        (`namespace Audit { action "audited"; }` beside the app's `Shop` was taken, sorted
        first, and every route of Shop was gone.)"""
        declaring = {a.type.removesuffix("Action").removesuffix("::") for a in self.actions}
        with_users = [
            ns for ns in self.namespaces
            if ns in declaring and (f"{ns}::User" if ns else "User") in self.entity_types
        ]  # fmt: skip
        named = [ns for ns in self.namespaces if ns and ns in declaring]
        return (with_users or named or [""])[0]

    def entity_type(self, name: str) -> EntityTypeDef | None:
        return self.entity_types.get(name)

    def action(self, type: str, id: str) -> ActionDef | None:
        return self._by_uid.get((type, id))


_JSON_PRIMITIVES: Mapping[str, CedarType] = {
    "String": Primitive("String"),
    "Long": Primitive("Long"),
    "Boolean": Primitive("Boolean"),
}
_EXTENSIONS: Mapping[str, CedarType] = {
    "ipaddr": ExtensionType("ipaddr"),
    "decimal": ExtensionType("decimal"),
    "datetime": ExtensionType("datetime"),
    "duration": ExtensionType("duration"),
}
# Cedar defines these as common types of the empty namespace (aliases of `__cedar::...`), which
# is why a user's own declaration of the same name wins over them. Note `Bool`, not `Boolean`.
_BUILTINS: Mapping[str, CedarType] = {
    "String": Primitive("String"),
    "Long": Primitive("Long"),
    "Bool": Primitive("Boolean"),
    **_EXTENSIONS,
}
_BUILTINS = {**_BUILTINS, **{f"__cedar::{name}": t for name, t in _BUILTINS.items()}}


def _qualify(namespace: str, name: str) -> str:
    return f"{namespace}::{name}" if namespace else name


def _candidates(name: str, namespace: str) -> Iterator[str]:
    """Cedar's search order for a name written in `namespace`: a qualified name means itself;
    a bare one means the declaring namespace's, else the empty namespace's."""
    if namespace and "::" not in name:
        yield _qualify(namespace, name)
    yield name


def _in(namespace: str) -> str:
    return f" (in namespace {namespace})" if namespace else ""


def _annotations(definition: Mapping[str, Any]) -> Mapping[str, str]:
    return MappingProxyType(dict(definition.get("annotations") or {}))


class _Resolver:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.common: dict[str, tuple[str, Any]] = {}  # qualified name -> (namespace, JSON type)
        self.entities: set[str] = set()
        self.enums: dict[str, tuple[str, ...]] = {}  # enumerated entity types' ids
        self.actions: set[tuple[str, str]] = set()
        for ns, body in doc.items():
            for name, definition in (body.get("commonTypes") or {}).items():
                self.common[_qualify(ns, name)] = (ns, definition)
            self.entities.update(_qualify(ns, name) for name in body["entityTypes"])
            for name, definition in body["entityTypes"].items():
                if isinstance(definition, Mapping) and definition.get("enum") is not None:
                    self.enums[_qualify(ns, name)] = tuple(definition["enum"])
            self.actions.update((_qualify(ns, "Action"), a) for a in body["actions"])
        self.inlined: dict[str, CedarType] = {}  # also keeps shared common types linear
        self.resolving: list[str] = []

    def type(self, t: Mapping[str, Any], ns: str) -> CedarType:
        kind = t["type"]
        if kind in _JSON_PRIMITIVES:
            return _JSON_PRIMITIVES[kind]
        if kind == "Set":
            return SetType(self.type(t["element"], ns))
        if kind == "Record":
            return self.record(t, ns)
        if kind == "Entity":
            name = self.entity_name(t["name"], ns)
            return EntityRef(name, self.enums.get(name))
        if kind == "Extension":
            if t["name"] not in _EXTENSIONS:
                raise SchemaError(f"unknown extension type `{t['name']}`")
            return _EXTENSIONS[t["name"]]
        if kind == "EntityOrCommon":
            return self.named(t["name"], ns, entity=True)
        return self.named(kind, ns, entity=False)  # {"type": "SomeCommonType"}

    def record(self, t: Mapping[str, Any], ns: str) -> RecordType:
        attributes = {
            name: Attribute(self.type(a, ns), bool(a.get("required", True)))
            for name, a in t["attributes"].items()
        }
        return RecordType(MappingProxyType(attributes), bool(t.get("additionalAttributes")))

    def named(self, name: str, ns: str, *, entity: bool) -> CedarType:
        for candidate in _candidates(name, ns):
            if candidate in self.common:
                return self.common_type(candidate)
            if entity and candidate in self.entities:
                return EntityRef(candidate, self.enums.get(candidate))
        if name in _BUILTINS:
            return _BUILTINS[name]
        kind = "entity or common type" if entity else "common type"
        raise SchemaError(f"undeclared {kind} `{name}`{_in(ns)}")

    def common_type(self, qualified: str) -> CedarType:
        if qualified in self.inlined:
            return self.inlined[qualified]
        if qualified in self.resolving:
            cycle = [*self.resolving[self.resolving.index(qualified) :], qualified]
            raise SchemaError(f"common types form a cycle: {' -> '.join(cycle)}")
        self.resolving.append(qualified)
        ns, definition = self.common[qualified]
        self.inlined[qualified] = self.type(definition, ns)
        self.resolving.pop()
        return self.inlined[qualified]

    def entity_name(self, name: str, ns: str) -> str:
        for candidate in _candidates(name, ns):
            if candidate in self.entities:
                return candidate
        raise SchemaError(f"undeclared entity type `{name}`{_in(ns)}")

    def record_of(self, t: Mapping[str, Any] | None, ns: str, what: str) -> RecordType:
        """An entity shape or action context: a record, possibly through a common type."""
        if t is None:
            return EMPTY_RECORD
        resolved = self.type(t, ns)
        if not isinstance(resolved, RecordType):
            raise SchemaError(f"{what} is not a record")
        return resolved

    def action_group(self, ref: Mapping[str, Any], ns: str) -> tuple[str, str]:
        written = ref.get("type") or "Action"
        for candidate in _candidates(written, ns):
            if (candidate, ref["id"]) in self.actions:
                return candidate, ref["id"]
        raise SchemaError(f'undeclared action {written}::"{ref["id"]}"')

    def entity_type(self, ns: str, name: str, definition: Mapping[str, Any]) -> EntityTypeDef:
        qualified = _qualify(ns, name)
        tags = definition.get("tags")
        return EntityTypeDef(
            name=qualified,
            attributes=self.record_of(definition.get("shape"), ns, f"the shape of {qualified}"),
            member_of=tuple(self.entity_name(p, ns) for p in definition.get("memberOfTypes") or ()),
            annotations=_annotations(definition),
            enum=tuple(definition["enum"]) if definition.get("enum") is not None else None,
            tags=self.type(tags, ns) if tags is not None else None,
        )

    def action(self, ns: str, action_id: str, definition: Mapping[str, Any]) -> ActionDef:
        action_type = _qualify(ns, "Action")
        applies = definition.get("appliesTo") or {}
        principals = applies.get("principalTypes") or ()
        resources = applies.get("resourceTypes") or ()
        context = f'the context of {action_type}::"{action_id}"'
        return ActionDef(
            type=action_type,
            id=action_id,
            principal_types=tuple(self.entity_name(p, ns) for p in principals),
            resource_types=tuple(self.entity_name(r, ns) for r in resources),
            context=self.record_of(applies.get("context"), ns, context),
            annotations=_annotations(definition),
            member_of=tuple(self.action_group(g, ns) for g in definition.get("memberOf") or ()),
        )

    def model(self, text: str | None, cedar: cedarpy.Schema) -> SchemaModel:
        entity_types: dict[str, EntityTypeDef] = {}
        actions: list[ActionDef] = []
        for ns in sorted(self.doc):
            body = self.doc[ns]
            for name, definition in body["entityTypes"].items():
                entity_types[_qualify(ns, name)] = self.entity_type(ns, name, definition)
            actions.extend(self.action(ns, a, d) for a, d in body["actions"].items())
        return SchemaModel(
            namespaces=tuple(sorted(self.doc)),
            entity_types=MappingProxyType(dict(sorted(entity_types.items()))),
            actions=tuple(sorted(actions, key=lambda a: (a.type, a.id))),
            json=self.doc,
            text=text,
            cedar=cedar,
        )


def _build(
    doc: Mapping[str, Any], text: str | None, source: str | None, file_text: str | None
) -> SchemaModel:
    """Validate ``doc`` with Cedar, then resolve it. ``file_text`` is the JSON file ``doc`` was
    read from: Cedar is given that, so that the positions in its messages are the file's."""
    where = source or "schema"
    try:
        handle = cedarpy.Schema.from_json_str(
            file_text if file_text is not None else json.dumps(doc)
        )
    except Exception as error:  # ValueError from cedarpy, TypeError/RecursionError from json
        if text is not None:  # the document is ours, converted from text Cedar accepted
            raise SchemaError(
                f"{where}: Cedar accepts this schema but not the JSON form "
                f"authorizer.cedar.schema_text makes of it: {error}"
            ) from None
        line = _json_line(file_text, str(error)) if file_text else None
        raise SchemaError(f"{where}{f', line {line}' if line else ''}: {error}") from None
    try:
        return _Resolver(doc).model(text, handle)
    except SchemaError as error:
        raise SchemaError(f"{where}: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as error:
        # Cedar accepted the document, so this is a shape we did not expect: say what it was.
        raise SchemaError(f"{where}: unexpected schema structure: {error!r}") from None


def _json_line(json_text: str, message: str) -> int | None:
    """The line of a JSON file that Cedar's complaint is about, when Cedar does not say."""
    if " at line " in message:  # serde's own position, already in the file's terms
        return None
    from authorizer.cedar.schema_text import culprits  # noqa: PLC0415  # an error path

    for name in culprits(message):
        for wanted in (name, name.rsplit("::", 1)[-1].strip('"')):
            offset = json_text.find(json.dumps(wanted))
            if offset >= 0:
                return json_text.count("\n", 0, offset) + 1
    return None


def cedarschema_to_json(text: str, *, source: str | None = None) -> dict[str, Any]:
    """``authorizer.cedar.schema_text.cedarschema_to_json``, imported only when a text schema
    is read (a cold start from the compiled policy store reads none)."""
    from authorizer.cedar.schema_text import cedarschema_to_json as convert  # noqa: PLC0415

    return convert(text, source=source)


def model_from_json(
    doc: Mapping[str, Any], text: str | None = None, *, source: str | None = None
) -> SchemaModel:
    """The resolved model of a schema in Cedar's JSON format (validated by cedarpy first).

    ``text`` is the ``.cedarschema`` text ``doc`` was converted from, if any; ``source`` (a file
    name) prefixes error messages."""
    return _build(doc, text, source, None)


def load_schema(path: pathlib.Path) -> SchemaModel:
    """Read a schema file: ``*.json`` (including ``.cedarschema.json``) in Cedar's JSON format,
    anything else in Cedar's schema syntax. Every failure is a ``SchemaError`` naming the file."""
    path = pathlib.Path(path)
    return schema_from_text(path, read_schema_file(path))


def read_schema_file(path: pathlib.Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"{path}: no such schema file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaError(f"{path}: cannot read schema: {error}") from None


def schema_from_text(path: pathlib.Path, raw: str) -> SchemaModel:
    """The model of schema file ``path`` whose text is ``raw`` (see ``load_schema``). Told
    apart by content, whatever the file's name: Cedar's schema syntax, Cedar's JSON format (an
    object of namespaces), or what `aws verifiedpermissions get-schema` prints (an object whose
    ``schema`` is the JSON format as a string)."""
    if not path.name.endswith(".json") and not raw.lstrip().startswith("{"):
        return _build(cedarschema_to_json(raw, source=str(path)), raw, str(path), None)
    doc = _json_object(path, raw)
    inner = doc.get("schema")
    if isinstance(inner, str):  # get-schema's answer: a namespace is an object, never a string
        where = pathlib.Path(f"{path} (its `schema`)")
        raw, doc = inner, _json_object(where, inner)
        path = where
    # Cedar reads the file's own text, so the line/column in its messages are the file's.
    return _build(doc, None, str(path), raw)


def _json_object(path: pathlib.Path, raw: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as error:
        where = f"{path}, line {error.lineno}, column {error.colno}"
        raise SchemaError(f"{where}: invalid JSON: {error.msg}") from None
    except RecursionError:
        raise SchemaError(f"{path}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        kind = type(doc).__name__
        raise SchemaError(f"{path}: a JSON schema is an object of namespaces, not a {kind}")
    return doc
