"""`cedar-authz export-avp [--policies DIR] [--schema FILE] [--links FILE] -o FILE`: write a
CloudFormation template of Amazon Verified Permissions resources holding these policies.

The policies are parsed and validated against the schema first (as `compile` does): nothing is
written unless they validate. The template has one policy store (strict validation with the
schema), a policy per static policy, a policy template per template and a template-linked policy
per link; deploy it with `aws cloudformation deploy --template-file FILE --stack-name NAME`.
Exit 0 written, 1 an input is missing or does not parse, 3 validation failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from authorizer.cedar.engine import validate
from authorizer.errors import ConfigError, PolicyError
from authorizer.tooling.authoring.avp import avp_template
from authorizer.tooling.authoring.inputs import (
    Exit,
    add_input_arguments,
    cedar_schema,
    load_linked_policies,
    load_model,
    resolve,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "export-avp",
        help="write a CloudFormation template of Verified Permissions resources",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        inputs = resolve(args)
        policies = load_linked_policies(inputs.policy_dir, inputs.links_path)
        model = load_model(inputs)
        if model is not None:
            try:
                validate(policies, cedar_schema(model))
            except PolicyError as error:
                print(f"error: {error}", file=sys.stderr)
                return Exit.VALIDATION
        template = avp_template(policies, model.json if model is not None else None)
        args.output.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    except (ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    count = len(template["Resources"]) - 1
    print(f"wrote {args.output}: a policy store and {count} policies and templates")
    return Exit.OK
