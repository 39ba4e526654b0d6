"""The compiled policy store: what cold start derives from the policy and schema files, written
once at build time (``cedar-authz compile``) and used only when it was made from exactly these
files by this Cedar.

Without it a cold start asks Cedar to parse every ``.cedar`` file, reads a ``.cedarschema`` text
with our parser and validates every file against the schema. All of that is a function of the
files' bytes and of Cedar's version, so the file is keyed on both: a policy edit, a schema edit,
another cedarpy or another format of this file makes it stale, and a stale, unreadable or damaged
file is ignored (the files are read the long way, with a warning).

The policies are kept by index bucket (``authorizer.cedar.index``): a cold start reads the
index's tables and parses no policy; a bucket's policies are parsed when a request first needs
them. Everything else that would read every policy at cold start is kept too: the policy set's
version, and what the entity slicing needs of the conditions (``entity_graph.reach``). Asking for
all of them (``LoadedPolicies.sources`` or ``.document``: the tooling, template links, a live
entity store) parses them all then.

File: ``<policy dir>/.compiled.json``. Line 1: a header (format, key, sha256 of the rest).
Line 2: the tables (schema JSON, version, files, reach, the index tree, per bucket whether it
holds a permit and what it reads of the context, and where its policies are). Then each bucket's
policies as a JSON list of records, one after the other, and the templates last.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cedarpy

from authorizer.cedar.index import PolicyIndex, Reads, Tables, build
from authorizer.cedar.policies import LoadedPolicies, PolicySource, assemble
from authorizer.errors import ConfigError
from authorizer.records import NamedTuple
from authorizer.stores.entity_graph import Reach, reach

__all__ = [
    "COMPILED_NAME",
    "Compiled",
    "compiled_key",
    "entities_digest",
    "read_compiled",
    "write_compiled",
]

logger = logging.getLogger(__name__)

COMPILED_NAME = ".compiled.json"
# Raise when what is stored, or how this package derives it, changes: older files become stale.
FORMAT = 4  # 3: reads name the request's query (analysis.REQUEST_QUERY); 4: its source too
_BITS = bytes.maketrans(b"01", b"\x00\x01")


class Compiled(NamedTuple):
    policies: LoadedPolicies  # sources and document parsed on first use
    schema_json: dict[str, Any] | None  # the .cedarschema text's JSON form; None: no text schema
    policy_index: PolicyIndex[PolicySource]  # each bucket parsed on first use
    reach: Reach  # entity_graph.reach of the policies
    # SHA-256 of the entities file validated against the schema when this was written (None:
    # none was): a cold start that reads this very text need not validate it again.
    entities_sha256: str | None = None


def cedar_version() -> str | None:
    """The installed cedarpy distribution (its .dist-info name), or None when it cannot be told:
    then no compiled file is ever trusted. (importlib.metadata costs milliseconds to import.)"""
    site = Path(cedarpy.__file__).resolve().parent.parent
    found = [p.name for p in site.glob("cedarpy-*.dist-info")]
    return found[0] if len(found) == 1 else None


def compiled_key(
    policy_dir: Path, texts: Mapping[Path, str], schema: tuple[Path, str] | None
) -> str | None:
    """Digest of everything the compiled content is derived from (None: Cedar unknown)."""
    cedar = cedar_version()
    if cedar is None:
        return None
    digest = hashlib.sha256(f"cedar-authz compiled {FORMAT}\0{cedar}\0".encode())
    for path, text in texts.items():
        digest.update(f"policy\0{path.relative_to(policy_dir).as_posix()}\0{text}\0".encode())
    if schema is not None:
        digest.update(f"schema\0{schema[0].name}\0{schema[1]}\0".encode())
    return digest.hexdigest()


def entities_digest(text: str) -> str:
    """What the compiled file records of a validated entities file, and a cold start compares."""
    return hashlib.sha256(text.encode()).hexdigest()


# --- writing --------------------------------------------------------------------------------


def write_compiled(
    policy_dir: Path,
    key: str,
    policies: LoadedPolicies,
    schema_json: Mapping[str, Any] | None,
    groups_known: bool,
    entities_sha256: str | None = None,
) -> Path:
    """Write the compiled file of policies and schema that have been loaded and validated
    (``groups_known``: the index knows the action groups, i.e. there is a schema), and the
    digest of an entities file validated against that schema, if any."""
    files = {path: number for number, path in enumerate(policies.files)}
    sources = list(policies.sources.values())
    order = {source.id: number for number, source in enumerate(sources)}

    def record(source: PolicySource) -> list[Any]:
        file = files.get(source.file)
        if file is None:
            raise ConfigError(f"{source.file}: policy {source.id!r} is not from a policy file")
        return [order[source.id], source.id, file, source.line, source.cedar_id,
                source.is_template, source.json]  # fmt: skip

    tables, members = build((s for s in sources if not s.is_template), groups_known)
    parts = [json.dumps([record(s) for s in bucket], separators=(",", ":")) for bucket in members]
    parts.append(json.dumps([record(s) for s in sources if s.is_template], separators=(",", ":")))
    offsets = [0]
    for part in parts:
        offsets.append(offsets[-1] + len(part.encode()))
    distinct = list(dict.fromkeys(tables.reads))
    found = reach(policies.document)
    meta = {
        "schema": schema_json,
        "version": policies.version,
        "files": [path.relative_to(policy_dir).as_posix() for path in policies.files],
        "reach": {"variables": dict(found.variables),
                  "literals": [[t, i, hops] for (t, i), hops in found.literals.items()]},
        "groups_known": tables.groups_known,
        "tree": tables.tree,
        "permits": tables.permits.translate(bytes.maketrans(b"\x00\x01", b"01")).decode(),
        "read_sets": [None if r is None else sorted(r) for r in distinct],
        "reads": _positions(tables.reads, distinct),
        "offsets": offsets,
        "entities_sha256": entities_sha256,
    }  # fmt: skip
    body = (json.dumps(meta, separators=(",", ":")) + "\n" + "".join(parts)).encode()
    header = {"format": FORMAT, "key": key, "sha256": hashlib.sha256(body).hexdigest()}
    target = policy_dir / COMPILED_NAME
    try:
        target.write_bytes(json.dumps(header).encode() + b"\n" + body)
    except OSError as error:
        raise ConfigError(f"{target}: cannot be written: {error}") from None
    return target


def _positions(reads: Sequence[Reads], distinct: list[Reads]) -> list[int]:
    where = {r: n for n, r in enumerate(distinct)}
    return [where[r] for r in reads]


# --- reading --------------------------------------------------------------------------------


def read_compiled(policy_dir: Path, key: str | None, texts: Mapping[Path, str]) -> Compiled | None:
    """The compiled content when the file exists and was made from these very inputs."""
    path = policy_dir / COMPILED_NAME
    if key is None or not path.is_file():
        return None
    try:
        header_line, _, rest = path.read_bytes().partition(b"\n")
        header = json.loads(header_line)
        if header.get("format") != FORMAT or header.get("key") != key:
            logger.warning("%s is stale (made from other files): reading the policies", path)
            return None
        if header.get("sha256") != hashlib.sha256(rest).hexdigest():
            raise ValueError("its content does not match its digest")
        meta_line, _, body = rest.partition(b"\n")
        return _compiled(policy_dir, json.loads(meta_line), body, texts)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ConfigError) as error:
        logger.warning("%s cannot be used (%s): reading the policies", path, error)
        return None


def _compiled(
    policy_dir: Path, meta: dict[str, Any], body: bytes, texts: Mapping[Path, str]
) -> Compiled:
    files = [policy_dir / name for name in meta["files"]]
    if set(files) != set(texts):
        raise ValueError("it names other policy files than there are")
    schema = meta["schema"]
    if schema is not None and not isinstance(schema, dict):
        raise ValueError("its schema is not an object")
    offsets: list[int] = meta["offsets"]
    read_sets = [None if r is None else frozenset(r) for r in meta["read_sets"]]
    permits = meta["permits"].encode().translate(_BITS)
    tables = Tables(meta["tree"], permits, tuple(read_sets[n] for n in meta["reads"]),
                    bool(meta["groups_known"]))  # fmt: skip
    buckets = len(offsets) - 2  # the last part is the templates
    if len(permits) != buckets or len(tables.reads) != buckets or offsets[-1] != len(body):
        raise ValueError("its tables do not match its policies")

    def part(number: int) -> list[tuple[int, PolicySource]]:
        return _records(json.loads(body[offsets[number] : offsets[number + 1]]), files)

    def everything() -> LoadedPolicies:
        found: dict[str, tuple[int, PolicySource]] = {}
        for number in range(buckets + 1):
            for order, source in part(number):
                found.setdefault(source.id, (order, source))
        ordered = [source for _, source in sorted(found.values(), key=lambda item: item[0])]
        return assemble(policy_dir, ordered, texts)

    full = _Once(everything)
    policies = LoadedPolicies(_Lazy(full, "sources"), texts, _Lazy(full, "document"),
                              str(meta["version"]))  # fmt: skip
    index = PolicyIndex(tables, lambda number: [source for _, source in part(number)])
    reached = meta["reach"]
    literals = {(str(t), str(i)): int(hops) for t, i, hops in reached["literals"]}
    entities = meta.get("entities_sha256")
    if entities is not None and not isinstance(entities, str):
        raise ValueError("its entities digest is not a string")
    return Compiled(policies, schema, index, Reach(dict(reached["variables"]), literals), entities)


def _records(records: list[list[Any]], files: list[Path]) -> list[tuple[int, PolicySource]]:
    found = []
    for order, policy_id, file, line, cedar_id, is_template, body in records:
        if not isinstance(body, dict):
            raise ValueError(f"policy {policy_id!r} is not an object")
        source = PolicySource(str(policy_id), files[file], int(line), str(cedar_id),
                              bool(is_template), body)  # fmt: skip
        found.append((int(order), source))
    return found


class _Once:
    """``load()`` called once, on first use."""

    def __init__(self, load: Callable[[], LoadedPolicies]) -> None:
        self._load = load
        self._value: LoadedPolicies | None = None

    def __call__(self) -> LoadedPolicies:
        if self._value is None:
            self._value = self._load()
        return self._value


class _Lazy(Mapping[str, Any]):
    """``LoadedPolicies.sources`` or ``.document`` of a compiled store, parsed when first read."""

    def __init__(self, full: _Once, field: str) -> None:
        self._full, self._field = full, field

    def _target(self) -> Mapping[str, Any]:
        value: Mapping[str, Any] = getattr(self._full(), self._field)
        return value

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())
