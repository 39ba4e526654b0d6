"""`cedar-authz`: one subcommand per module in ``authorizer.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from authorizer.commands import invoke


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cedar-authz", description="Cedar policy decision point for API Gateway"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (invoke,):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
