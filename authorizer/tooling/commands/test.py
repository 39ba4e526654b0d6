"""`cedar-authz test FILE...`: run policy tests and print one line per test.

Two forms of test (JSON; YAML with PyYAML): the Cedar CLI's `run-tests` files (request,
entities, decision, reason as a subset of the determining policies' @ids, num_errors), evaluated
by Cedar on the policy set; and HTTP tests (a sample user or token claims, a method and a path,
the expected decision) run through the real authorizer: token verification, entity mapping,
route table. --coverage lists the policies no test saw determine a decision.
Exit 0 every test passed, 1 a test failed or an input is broken, 3 the policies do not validate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from authorizer.cedar.policies import LoadedPolicies
from authorizer.errors import ConfigError
from authorizer.tooling.authoring.inputs import Exit, add_input_arguments, resolve
from authorizer.tooling.authoring.problems import plural, source_line
from authorizer.tooling.authoring.runner import Result, coverage, summary
from authorizer.tooling.authoring.suite import (
    Stop,
    load_policy_set,
    load_schema_once,
    load_tests,
    runner,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "test",
        help="run policy tests (Cedar run-tests files and HTTP tests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="test file")
    add_input_arguments(parser, entities=True)
    parser.add_argument(
        "--coverage", action="store_true", help="list the policies no test saw determine"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        inputs = resolve(args)
        files = load_tests(args.files)
        model, schema = load_schema_once(inputs)
        put = load_policy_set(inputs, inputs.policy_dir, model, schema)
        tests = runner(put, inputs, files)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    except Stop as stop:
        print(stop.message, file=sys.stderr)
        return stop.code
    results: list[Result] = []
    for test_file in files:
        print(f"running {plural(len(test_file.cases), 'test')} from {test_file.path}")
        for case in test_file.cases:
            result = tests.run(case)
            results.append(result)
            print(_line(result), flush=True)
    passed, failed = summary(results)
    print(f"results: {passed} passed, {failed} failed")
    if args.coverage:
        _coverage(put.policies, results)
    return Exit.FAILURE if failed else Exit.OK


def _line(result: Result) -> str:
    head = f"  test {result.case.name} ..."
    if result.status == "ok":
        return f"{head} ok"
    return f"{head} {result.status}: {result.detail}"


def _coverage(policies: LoadedPolicies, results: list[Result]) -> None:
    found = coverage(policies, results)
    total = len(found.exercised) + len(found.unexercised)
    print(f"coverage: {len(found.exercised)} of {total} policies determined a decision in a test")
    for source in found.unexercised:
        kind = "template" if source.is_template else source.json.get("effect", "policy")
        where = f"{source.file}:{source_line(policies, source)}"
        print(f"  not exercised: {source.id} ({kind}) {where}")
