"""The compiled policy store: what cold start derives from the policy and schema files, written
once at build time (``cedar-authz compile``) and used only when it was made from exactly these
files by this Cedar.

Without it a cold start asks Cedar to parse every ``.cedar`` file, reads a ``.cedarschema`` text
with our parser and validates every file against the schema: about a third of the time from
import to first decision (bench/README.md). All of that is a function of the files' bytes and of
Cedar's version, so the file is keyed on both: a policy edit, a schema edit, another cedarpy or
another format of this file makes it stale, and a stale, unreadable or damaged file is ignored
(the files are read the long way, with a warning). Cedar still checks the schema's JSON form at
every cold start; the policies' JSON is parsed into one policy set by Cedar as usual.

File: ``<policy dir>/.compiled.json``; first line a header (format, key, sha256 of the rest),
then the content: the schema's JSON form and each policy's source record.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import cedarpy

from authorizer.cedar.policies import LoadedPolicies, PolicySource, assemble
from authorizer.errors import ConfigError

__all__ = ["COMPILED_NAME", "Compiled", "compiled_key", "read_compiled", "write_compiled"]

logger = logging.getLogger(__name__)

COMPILED_NAME = ".compiled.json"
# Raise when what is stored, or how this package derives it, changes: older files become stale.
FORMAT = 1


class Compiled(NamedTuple):
    policies: LoadedPolicies
    schema_json: dict[str, Any] | None  # the .cedarschema text's JSON form; None: no text schema


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


def write_compiled(
    policy_dir: Path,
    key: str,
    policies: LoadedPolicies,
    schema_json: Mapping[str, Any] | None,
) -> Path:
    """Write the compiled file of policies and schema that have been loaded and validated."""
    records = [
        [s.id, s.file.relative_to(policy_dir).as_posix(), s.line, s.cedar_id, s.is_template, s.json]
        for s in policies.sources.values()
    ]
    content = json.dumps({"schema": schema_json, "policies": records}, separators=(",", ":"))
    body = content.encode()
    header = {"format": FORMAT, "key": key, "sha256": hashlib.sha256(body).hexdigest()}
    target = policy_dir / COMPILED_NAME
    try:
        target.write_bytes(json.dumps(header).encode() + b"\n" + body)
    except OSError as error:
        raise ConfigError(f"{target}: cannot be written: {error}") from None
    return target


def read_compiled(policy_dir: Path, key: str | None, texts: Mapping[Path, str]) -> Compiled | None:
    """The compiled content when the file exists and was made from these very inputs."""
    path = policy_dir / COMPILED_NAME
    if key is None or not path.is_file():
        return None
    try:
        header_line, _, body = path.read_bytes().partition(b"\n")
        header = json.loads(header_line)
        if header.get("format") != FORMAT or header.get("key") != key:
            logger.warning("%s is stale (made from other files): reading the policies", path)
            return None
        if header.get("sha256") != hashlib.sha256(body).hexdigest():
            raise ValueError("its content does not match its digest")
        content = json.loads(body)
        found = [
            PolicySource(str(i), policy_dir / file, int(line), str(cid), bool(tpl), dict(json_))
            for i, file, line, cid, tpl, json_ in content["policies"]
        ]
        if {s.file for s in found} - set(texts):
            raise ValueError("it names policy files that are not there")
        schema = content["schema"]
        if schema is not None and not isinstance(schema, dict):
            raise ValueError("its schema is not an object")
        return Compiled(assemble(policy_dir, found, texts), schema)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ConfigError) as error:
        logger.warning("%s cannot be used (%s): reading the policies", path, error)
        return None
