"""`cedar-authz compile [--policies DIR] [--schema FILE] [--entities FILE] [--check]`: write the
compiled policy store that lets a cold start skip parsing and validating the policies and the
schema text, and validating the entities file again.

The policies are parsed and validated against the schema (as `validate` does, without the route
checks), then ``<DIR>/.compiled.json`` is written, keyed on every policy file, the schema file and
the installed cedarpy: any change to them makes it stale, and the authorizer then ignores it and
reads the files the long way. Run it as the last step of a build (the SAM template's makefile
build does). Template links (--links, CEDAR_TEMPLATE_LINKS) are read at every start, so a
compiled store is not used with them: given, they are checked here as a start would (1 when they
do not parse or name no template, 3 when the linked policies do not validate), and the command
says the store will not be used. The entities file (--entities, CEDAR_ENTITIES) is
validated against the schema and its digest recorded: a cold start that reads that very file
then indexes it without asking Cedar to parse it whole (the backend library's whole-store handle
is parsed on first use); an edited file is validated at start as usual. A file named that does
not validate fails the command (3); one only found in entities/ is then left unrecorded.
--check: exit 0 if the store is current, 1 if it is missing or stale.
Exit 0 written (or current), 1 an input is missing or does not parse, 3 validation failed (the
policies, or the entities file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from authorizer.cedar.compiled import (
    COMPILED_NAME,
    compiled_key,
    entities_digest,
    read_compiled,
    write_compiled,
)
from authorizer.cedar.engine import validate
from authorizer.cedar.links import with_template_links
from authorizer.cedar.policies import load_policies, read_policy_files
from authorizer.cedar.schema import SchemaModel, read_schema_file, schema_from_text
from authorizer.errors import ConfigError, PolicyError
from authorizer.stores.store import JsonFileStore
from authorizer.tooling.authoring.inputs import (
    Exit,
    add_input_arguments,
    cedar_schema,
    read_entities,
    resolve,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "compile",
        help="write the compiled policy store a cold start reads instead of the files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser, entities=True)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 unless the compiled store is current"
    )
    parser.set_defaults(run=run)


def explicit_entities(args: argparse.Namespace) -> bool:
    """Whether the entities file was named (--entities, CEDAR_ENTITIES), not found."""
    return args.entities is not None or bool((os.environ.get("CEDAR_ENTITIES") or "").strip())


def run(args: argparse.Namespace) -> int:
    try:
        inputs = resolve(args)
        directory = inputs.policy_dir
        texts = read_policy_files(directory)
        schema_input = None
        if inputs.schema_path is not None:
            schema_input = (inputs.schema_path, read_schema_file(inputs.schema_path))
        key = compiled_key(directory, texts, schema_input)
        if key is None:
            raise ConfigError("the installed cedarpy's version cannot be told: nothing to key on")
        unused = (
            f"note: template links ({inputs.links_path}) are read at every start: the compiled "
            "store is not used while they are set"
        )
        if args.check:
            if read_compiled(directory, key, texts) is None:
                print(f"{directory / COMPILED_NAME}: missing or stale", file=sys.stderr)
                return Exit.FAILURE
            print(f"{directory / COMPILED_NAME}: current")
            if inputs.links_path is not None:
                print(unused, file=sys.stderr)
            return Exit.OK
        policies = load_policies(directory, texts)
        checked = policies
        if inputs.links_path is not None:  # as a start links them: a failure is a failed start
            checked = with_template_links(policies, inputs.links_path)
        model = None
        if schema_input is not None:
            model = schema_from_text(*schema_input)
            try:
                validate(checked, cedar_schema(model), model)
            except PolicyError as error:
                print(f"error: {error}", file=sys.stderr)
                return Exit.VALIDATION
        schema_json = dict(model.json) if model is not None and model.text is not None else None
        digest: str | None = None
        if inputs.entities_path is not None:  # validated here, as a cold start would
            recorded = _entities_recorded(args, inputs.entities_path, model)
            if isinstance(recorded, Exit):
                return recorded
            digest = recorded
        target = write_compiled(directory, key, policies, schema_json, model is not None, digest)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    count = len(policies.sources)
    print(f"wrote {target}: {count} policies and templates from {len(texts)} files")
    if inputs.links_path is not None:
        print(unused, file=sys.stderr)
    return Exit.OK


def _entities_recorded(
    args: argparse.Namespace, path: Path, model: SchemaModel | None
) -> str | Exit | None:
    """The digest to record of the entities file, None when it is not vouched for, or the exit
    code of a named file that does not parse (1) or does not fit the schema (3)."""
    text = read_entities(path)
    try:  # a named file that is not JSON does not parse: 1, as for a policy (3: misfits)
        json.loads(text)
    except (ValueError, RecursionError) as error:
        if explicit_entities(args):
            print(f"error: {path}: not JSON: {error}", file=sys.stderr)
            return Exit.FAILURE
    try:
        JsonFileStore(text, cedar_schema(model) if model else None, str(path))
    except ConfigError as error:
        if explicit_entities(args):
            print(f"error: {error}", file=sys.stderr)
            return Exit.VALIDATION
        # Found in entities/, not named: perhaps another application's. Not vouched for.
        print(f"warning: {error}; not recorded", file=sys.stderr)
        return None
    return entities_digest(text)
