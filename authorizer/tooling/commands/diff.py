"""`cedar-authz diff OLD_DIR NEW_DIR --tests FILE...`: which test requests change decision
between two policy sets.

Every test of the files (both forms; the expected decisions are ignored) is decided under the
policies of OLD_DIR and of NEW_DIR, with the same schema, entities, template links and request
time, and each request whose decision changes is listed with the policies that determined it
on each side. Exit 0 (with --exit-code: 1 when a decision changes), 1 when an input is broken,
3 when either policy set does not validate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from authorizer.errors import ConfigError
from authorizer.tooling.authoring.inputs import Exit, add_input_arguments, resolve
from authorizer.tooling.authoring.problems import plural
from authorizer.tooling.authoring.runner import Evaluation
from authorizer.tooling.authoring.suite import (
    Stop,
    load_policy_set,
    load_schema_once,
    load_tests,
    runner,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "diff",
        help="list the test requests whose decision changes between two policy sets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("old", type=Path, metavar="OLD_DIR", help="the policies before")
    parser.add_argument("new", type=Path, metavar="NEW_DIR", help="the policies after")
    parser.add_argument("--tests", nargs="+", type=Path, required=True, metavar="FILE",
                        help="test files whose requests to compare")  # fmt: skip
    add_input_arguments(parser, policies=False, entities=True)
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when a decision changes")
    parser.add_argument("--json", action="store_true", help="print the changes as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        inputs = resolve(args)
        files = load_tests(args.tests)
        model, schema = load_schema_once(inputs)
        old = runner(load_policy_set(inputs, args.old, model, schema), inputs, files, now)
        new = runner(load_policy_set(inputs, args.new, model, schema), inputs, files, now)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    except Stop as stop:
        print(stop.message, file=sys.stderr)
        return stop.code
    changes: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    total = 0
    for test_file in files:
        for case in test_file.cases:
            total += 1
            before, after = old.evaluate(case), new.evaluate(case)
            entry: dict[str, Any] = {
                "file": str(test_file.path),
                "test": case.name,
                "old": _side(before),
                "new": _side(after),
            }
            if before.decision is None or after.decision is None:
                broken.append(entry)
            elif before.decision != after.decision:
                changes.append(entry)
    if args.json:
        print(json.dumps({"tests": total, "changes": changes, "errors": broken}, indent=2))
    else:
        print(
            f"comparing {args.old} (old) with {args.new} (new) on {plural(total, 'test request')}"
        )
        for entry in changes:
            old_side, new_side = entry["old"], entry["new"]
            print(f"  test {entry['test']}: {old_side['decision']} -> {new_side['decision']}"
                  f"  (old: {_why(old_side)}; new: {_why(new_side)})")  # fmt: skip
        for entry in broken:
            failure = entry["old"]["failure"] or entry["new"]["failure"]
            print(f"  test {entry['test']}: error: {failure}")
        print(f"{len(changes)} of {plural(total, 'decision')} change")
    if broken:
        return Exit.FAILURE
    return Exit.FAILURE if changes and args.exit_code else Exit.OK


def _side(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "decision": evaluation.decision,
        "determining": list(evaluation.determining),
        "errors": list(evaluation.errors),
        "failure": evaluation.failure,
    }


def _why(side: dict[str, Any]) -> str:
    return ", ".join(side["determining"]) or "; ".join(side["errors"]) or "no policy applies"
