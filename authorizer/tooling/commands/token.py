"""`cedar-authz token USER [--id]`: print a fresh access (or ID) token of a sample user, signed
with the local issuer's shared key (the one `cedar-authz serve` publishes), with the claims its
token endpoint issues. Exit 1 for an unknown user, listing the known ones."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from authorizer.errors import ConfigError
from authorizer.tooling.authoring.inputs import Exit
from authorizer.tooling.local.keys import local_issuer, mint, state_dir
from authorizer.tooling.local.users import SAMPLE_USERS


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "token", help="print a token of a sample user for `cedar-authz serve`"
    )
    parser.add_argument("user", help=f"a sample user: {', '.join(sorted(SAMPLE_USERS))}")
    parser.add_argument(
        "--id", action="store_true", dest="id_token", help="an ID token instead of an access token"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.user not in SAMPLE_USERS:
        print(
            f"error: unknown user {args.user!r}; sample users: {', '.join(sorted(SAMPLE_USERS))}",
            file=sys.stderr,
        )
        return Exit.FAILURE
    try:
        issuer = local_issuer(state_dir())
    except (ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    print(mint(issuer, args.user, "id" if args.id_token else "access"))
    return Exit.OK
