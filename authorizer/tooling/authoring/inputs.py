"""What the authoring commands read, resolved as the authorizer resolves it: a flag, else the
environment variable (``CEDAR_POLICY_DIR``, ``CEDAR_SCHEMA``, ``CEDAR_ENTITIES``,
``CEDAR_TEMPLATE_LINKS``), else the default (``policies/``, the one schema in ``schemas/``, the
one entity store in ``entities/``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import cedarpy

from authorizer.cedar.links import LINKS_ENV, with_template_links
from authorizer.cedar.policies import LoadedPolicies, load_policies
from authorizer.cedar.schema import SchemaModel, load_schema
from authorizer.config import find_entities, find_schema
from authorizer.errors import ConfigError, SchemaError


class Exit(IntEnum):
    """The Cedar CLI's exit codes."""

    OK = 0
    FAILURE = 1  # a file that does not parse, a missing input, a failing test
    DENY = 2
    VALIDATION = 3


@dataclass(frozen=True)
class Inputs:
    policy_dir: Path
    schema_path: Path | None  # None: no schema (CEDAR_SCHEMA=none, or none in schemas/)
    entities_path: Path | None
    links_path: Path | None
    schema_disabled: bool = False  # CEDAR_SCHEMA=none / --schema none


def add_input_arguments(
    parser: argparse.ArgumentParser,
    *,
    policies: bool = True,
    entities: bool = False,
) -> None:
    if policies:
        parser.add_argument(
            "--policies", type=Path, metavar="DIR",
            help="folder of *.cedar files (default: $CEDAR_POLICY_DIR, else policies/)",
        )  # fmt: skip
    parser.add_argument(
        "--schema", metavar="FILE",
        help="schema file, or `none` (default: $CEDAR_SCHEMA, else the one in schemas/)",
    )  # fmt: skip
    if entities:
        parser.add_argument(
            "--entities", type=Path, metavar="FILE",
            help="entity store JSON, or `none` (default: $CEDAR_ENTITIES, else entities/*.json)",
        )  # fmt: skip
    parser.add_argument(
        "--links", type=Path, metavar="FILE",
        help=f"template links in the Cedar CLI's JSON format (default: ${LINKS_ENV})",
    )  # fmt: skip


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Inputs:
    """Flags over the environment over the defaults. Raises ``ConfigError``."""
    env = os.environ if environ is None else environ
    flag_dir: Path | None = getattr(args, "policies", None)
    policy_dir = flag_dir or Path(env.get("CEDAR_POLICY_DIR") or "policies")
    schema_value: str | None = getattr(args, "schema", None) or env.get("CEDAR_SCHEMA") or None
    disabled = (schema_value or "").strip().lower() == "none"
    if disabled:
        schema_path = None
    elif schema_value:
        schema_path = Path(schema_value)
    else:
        schema_path = find_schema(Path("schemas"))
    flag_entities: Path | None = getattr(args, "entities", None)
    env_entities = (env.get("CEDAR_ENTITIES") or "").strip()
    entities = flag_entities or (Path(env_entities) if env_entities else find_entities())
    if str(flag_entities or env_entities).lower() == "none":
        entities = None
    elif entities is not None and not (flag_entities or env_entities) and hasattr(args, "entities"):
        # The authorizer has no such default (DESIGN §2): say which store this answer used.
        print(f"note: entities from {entities} (found; the authorizer reads an entity store "
              "only where CEDAR_ENTITIES names it)", file=sys.stderr)  # fmt: skip
    flag_links: Path | None = getattr(args, "links", None)
    env_links = env.get(LINKS_ENV, "").strip()
    links = flag_links or (Path(env_links) if env_links else None)
    return Inputs(policy_dir, schema_path, entities, links, disabled)


def load_linked_policies(directory: Path, links: Path | None) -> LoadedPolicies:
    """``load_policies`` plus the template links: the policy set the authorizer evaluates."""
    return with_template_links(load_policies(directory), links)


def load_model(inputs: Inputs) -> SchemaModel | None:
    return load_schema(inputs.schema_path) if inputs.schema_path is not None else None


def require_model(inputs: Inputs) -> SchemaModel:
    if inputs.schema_path is None:
        why = (
            "--schema none / CEDAR_SCHEMA=none"
            if inputs.schema_disabled
            else "no --schema, no CEDAR_SCHEMA and no *.cedarschema(.json) in schemas/"
        )
        raise SchemaError(f"a schema is required ({why})")
    return load_schema(inputs.schema_path)


def cedar_schema(model: SchemaModel) -> cedarpy.Schema:
    try:
        return cedarpy.Schema.from_json_str(json.dumps(model.json))
    except ValueError as error:
        raise SchemaError(f"schema rejected by Cedar: {error}") from None


def namespace(model: SchemaModel | None, environ: Mapping[str, str] | None = None) -> str:
    """The namespace of User, Action...: CEDAR_NAMESPACE, else the schema's (as the authorizer)."""
    env = os.environ if environ is None else environ
    configured = env.get("CEDAR_NAMESPACE")
    if configured is not None:
        return configured
    return model.default_namespace if model else ""


def read_entities(path: Path | None) -> str:
    if path is None:
        return "[]"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such entities file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None
