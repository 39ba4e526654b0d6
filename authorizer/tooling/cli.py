"""`cedar-authz`: one subcommand per module in ``authorizer.tooling.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

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


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which here means deny (the Cedar CLI's codes: 0 ok,
    1 failure, 2 deny, 3 invalid): a script reading 2 as "denied" took a misspelt flag for a
    deny. A usage error is a failure. (Sub-commands' parsers are of this class too.)"""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(Exit.FAILURE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cedar-authz", description="Cedar policy decision point for API Gateway")
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
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] not in ("boto3", "botocore"):
            raise
        # Installed without the `aws` extra (the Lambda runtime has boto3; `make run` installs it)
        print(
            "error: this command talks to AWS and needs boto3: pip install 'cedar-authz[aws]'",
            file=sys.stderr,
        )
        return Exit.FAILURE
    except BrokenPipeError:  # `cedar-authz ... | head`: the reader left; nothing to report
        sys.stderr.close()
        return Exit.FAILURE
    return code


if __name__ == "__main__":
    sys.exit(main())
