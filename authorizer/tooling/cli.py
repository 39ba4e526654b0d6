"""`cedar-authz`: one subcommand per module in ``authorizer.tooling.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from authorizer.tooling.authoring.inputs import Exit
from authorizer.tooling.commands import (
    bundle,
    compile,
    diff,
    explain,
    export_avp,
    format,
    invoke,
    revoke,
    serve,
    test,
    token,
    validate,
)

COMMANDS = (
    invoke,
    serve,
    token,
    validate,
    compile,
    bundle,
    format,
    test,
    explain,
    diff,
    export_avp,
    revoke,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cedar-authz", description="Cedar policy decision point for API Gateway"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    # `cedar-authz COMMAND --help` shows the command module's own account of what it does.
    modules = {m.__name__.rsplit(".", 1)[-1]: m for m in COMMANDS}
    for name, subparser in commands.choices.items():
        module = modules.get(name)
        if subparser.description is None and module is not None and module.__doc__:
            subparser.description = module.__doc__
            subparser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cedar-authz ... | head`: the reader left; nothing to report
        sys.stderr.close()
        return Exit.FAILURE
    return code


if __name__ == "__main__":
    sys.exit(main())
