"""`cedar-authz format [--check | --write] [PATH...]`: Cedar's own formatting, file by file.

PATHs are .cedar files or folders of them (default: $CEDAR_POLICY_DIR, else policies/). Without
a flag the formatted text is printed; --check lists the files that would change and exits 1 if
any would; --write rewrites them. A file that does not parse is reported with its line, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from authorizer.tooling.authoring.formatting import FormatError, format_text
from authorizer.tooling.authoring.inputs import Exit
from authorizer.tooling.authoring.problems import plural, render


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "format",
        help="format .cedar files the Cedar way",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help=".cedar file or folder")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 if a file would change")
    action.add_argument("--write", action="store_true", help="rewrite the files in place")
    parser.add_argument("-l", "--line-width", type=int, default=80, metavar="N",
                        help="maximum line width (default: 80, as the Cedar CLI)")  # fmt: skip
    parser.add_argument("-i", "--indent-width", type=int, default=2, metavar="N",
                        help="indentation width (default: 2)")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths or [Path(os.environ.get("CEDAR_POLICY_DIR") or "policies")]
    try:
        files = _files(paths)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    if args.line_width < 1 or args.indent_width < 0:
        print(
            "error: --line-width must be positive and --indent-width not negative", file=sys.stderr
        )
        return Exit.FAILURE
    changed: list[Path] = []
    failed = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            formatted = format_text(path, text, args.line_width, args.indent_width)
        except (OSError, UnicodeDecodeError) as error:
            print(f"error: {path}: cannot be read: {error}", file=sys.stderr)
            failed += 1
            continue
        except FormatError as error:
            print(render(error.problem, {path: text}), file=sys.stderr)
            failed += 1
            continue
        if formatted != text:
            changed.append(path)
        if args.check:
            if formatted != text:
                print(f"would reformat {path}")
        elif args.write:
            if formatted != text:
                try:
                    path.write_text(formatted, encoding="utf-8")
                except OSError as error:
                    print(f"error: {path}: cannot be written: {error}", file=sys.stderr)
                    failed += 1
                    continue
                print(f"reformatted {path}")
        else:
            if len(files) > 1:
                print(f"// ==> {path} <==")
            sys.stdout.write(formatted)
    return _summary(args, files, changed, failed)


def _summary(
    args: argparse.Namespace, files: Sequence[Path], changed: list[Path], failed: int
) -> int:
    unchanged = len(files) - len(changed) - failed
    if args.check:
        verdict = f"{plural(len(changed), 'file')} would be reformatted"
        print(
            f"{verdict}, {unchanged} already formatted" + (f", {failed} failed" if failed else "")
        )
        return Exit.FAILURE if changed or failed else Exit.OK
    if args.write:
        print(f"{plural(len(changed), 'file')} reformatted, {unchanged} unchanged"
              + (f", {failed} failed" if failed else ""))  # fmt: skip
    if failed:
        print(f"error: {plural(failed, 'file')} could not be formatted", file=sys.stderr)
    return Exit.FAILURE if failed else Exit.OK


def _files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.cedar") if p.is_file())
            if not found:
                raise FileNotFoundError(f"no *.cedar files in {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return list(dict.fromkeys(files))
