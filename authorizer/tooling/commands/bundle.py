"""`cedar-authz bundle [--policies DIR] [--schema FILE] [--entities FILE] [--links FILE]
(-o FILE | --upload s3://bucket/key)`: write the policy bundle an authorizer loads from
CEDAR_POLICY_BUNDLE, so policies change without a deploy.

The bundle holds the policy files, the schema (Cedar's JSON format), the template links and the
entities, with a digest of them as its version. It is parsed and validated first, as the
authorizer will: nothing is written or uploaded unless it validates. Running authorizers pick it
up within CEDAR_POLICY_REFRESH_SECONDS (a conditional GET at the start of an invocation).
Exit 0 written, 1 an input is missing or does not parse (or the upload failed), 3 validation
failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from authorizer.cedar.bundle import MAX_BUNDLE_BYTES, bundle_policies, bundle_schema, make_bundle
from authorizer.cedar.engine import Engine
from authorizer.cedar.policies import read_policy_files
from authorizer.config import AwsSettings
from authorizer.errors import ConfigError, DependencyError, PolicyError
from authorizer.identity.entities import EntityMapping
from authorizer.route_building import route_table
from authorizer.strict_json import no_duplicate_keys
from authorizer.tooling.authoring.inputs import (
    Exit,
    add_input_arguments,
    load_model,
    read_entities,
    resolve,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bundle",
        help="write (or upload) the policy bundle an authorizer loads without a deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser, entities=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", type=Path, metavar="FILE")
    where.add_argument("--upload", metavar="s3://BUCKET/KEY")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        inputs = resolve(args)
        texts = read_policy_files(inputs.policy_dir)
        if not texts:
            raise ConfigError(f"{inputs.policy_dir}: no *.cedar files")
        model = load_model(inputs)
        links = inputs.links_path.read_text(encoding="utf-8") if inputs.links_path else None
        # Strictly: a key given twice is refused as CEDAR_ENTITIES refuses it, not the last
        # one written into the bundle.
        entities = json.loads(
            read_entities(inputs.entities_path), object_pairs_hook=no_duplicate_keys
        )
        if not isinstance(entities, list):
            raise ConfigError(f"{inputs.entities_path}: a JSON list of entities is expected")
        policies = {path.relative_to(inputs.policy_dir).as_posix(): text
                    for path, text in texts.items()}  # fmt: skip
        bundle = make_bundle(policies, model.json if model else None, links, entities or None)
        parsed = bundle_policies(bundle, "bundle", inputs.policy_dir)  # parse errors: exit 1
        schema = bundle_schema(bundle, "bundle")
    except (ConfigError, OSError, ValueError, RecursionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    try:
        engine = Engine(parsed, schema, json.dumps(entities), "bundle entities")  # as it will
    except PolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.VALIDATION
    except ConfigError as error:  # entities that do not fit the schema: invalid, as in compile
        print(f"error: {error}", file=sys.stderr)
        return Exit.VALIDATION
    try:
        # The route table and request types the authorizer builds on it: a bundle it would
        # refuse (two actions on one route, a context.request it cannot give) is invalid here.
        default = schema.default_namespace if schema else ""
        namespace = os.environ.get("CEDAR_NAMESPACE") or default
        route_table(engine, EntityMapping(namespace, "", "groups", schema))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.VALIDATION
    body = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > MAX_BUNDLE_BYTES:  # every authorizer would refuse it
        print(f"error: the bundle is {len(body)} bytes, over the {MAX_BUNDLE_BYTES} an "
              "authorizer loads: move entities to a DynamoDB store (ENTITY_STORE_TABLE)",
              file=sys.stderr)  # fmt: skip
        return Exit.FAILURE
    try:
        target = _write(args, body)
    except (OSError, DependencyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    print(f"wrote {target}: version {bundle['version']}, {len(parsed.sources)} policies, "
          f"{len(body)} bytes")  # fmt: skip
    return Exit.OK


def _write(args: argparse.Namespace, body: bytes) -> str:
    if args.output is not None:
        args.output.write_bytes(body)
        return str(args.output)
    url: str = args.upload
    if not url.startswith("s3://") or "/" not in url[5:] or url.endswith("/"):
        raise DependencyError(f"--upload takes s3://bucket/key, not {url!r}")
    import os  # noqa: PLC0415

    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from authorizer.cedar.bundle_source import s3_client  # noqa: PLC0415

    bucket, key = url[5:].split("/", 1)
    try:
        s3_client(AwsSettings.from_env(os.environ)).put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json"
        )
    except (BotoCoreError, ClientError) as error:
        raise DependencyError(f"upload to {url} failed: {error}") from None
    return url
