"""`cedar-authz validate [--policies DIR] [--schema FILE]`: does every policy parse and fit the
schema, and does the route table hold together?

Strict validation of every policy, template and template-linked policy, each error naming its
file, line and @id in the Cedar CLI's style; then the route table: every route the API definition
exposes has an action, every route action can be served. --json for machines.
Exit 0 valid, 1 an input is missing or does not parse, 3 validation failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from authorizer.cedar.policies import read_policy_files
from authorizer.errors import ConfigError
from authorizer.tooling.authoring.api_routes import ApiRoute, read_api_routes
from authorizer.tooling.authoring.checks import (
    parse_problems,
    route_problems,
    schema_routes,
    validation_problems,
)
from authorizer.tooling.authoring.inputs import (
    Exit,
    add_input_arguments,
    cedar_schema,
    load_linked_policies,
    namespace,
    require_model,
    resolve,
)
from authorizer.tooling.authoring.problems import Problem, counts, plural, render_all

DEFAULT_API = Path("template.yaml")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "validate",
        help="validate policies against the schema, and the route table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--api", metavar="FILE",
        help="API definition whose routes must have actions: a SAM template or OpenAPI "
        f"(default: ./{DEFAULT_API} if present; `none` to skip)",
    )  # fmt: skip
    parser.add_argument(
        "--deny-warnings", action="store_true", help="fail (exit 3) on warnings too"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        inputs = resolve(args)
        model = require_model(inputs)
        schema = cedar_schema(model)
        texts = read_policy_files(inputs.policy_dir)
        broken = parse_problems(texts)
        if broken:
            return _report(args, broken, texts, Exit.FAILURE, None)
        policies = load_linked_policies(inputs.policy_dir, inputs.links_path)
        api, unread = _api_routes(args.api)
    except ConfigError as error:
        return _report(args, [Problem("config", str(error))], {}, Exit.FAILURE, None)
    ns = namespace(model)
    api_path = Path(args.api or DEFAULT_API) if api is not None else None
    texts = {**policies.files, **_other_texts(inputs.schema_path, api_path, inputs.links_path)}
    problems = validation_problems(policies, schema)
    problems += route_problems(model, ns, api, inputs.schema_path, texts)
    problems += unread
    errors, warnings = counts(problems)
    failed = errors > 0 or (args.deny_warnings and warnings > 0)
    sources = list(policies.sources.values())
    links = len(policies.document.get("templateLinks", []))
    summary: dict[str, Any] = {
        "files": len(policies.files),
        "policies": sum(1 for s in sources if not s.is_template) - links,
        "templates": sum(1 for s in sources if s.is_template),
        "links": links,
        "routes": [
            {"method": r.method, "path": r.template, "action": r.action}
            for r in schema_routes(model, ns)
        ],
        "api": (args.api or str(DEFAULT_API)) if api is not None else None,
    }
    code = Exit.VALIDATION if failed else Exit.OK
    return _report(args, problems, texts, code, summary)


def _other_texts(*paths: Path | None) -> dict[Path, str]:
    """The schema's, the API definition's and the links' text, to show the lines problems are
    about."""
    texts: dict[Path, str] = {}
    for path in paths:
        try:
            if path is not None and path.is_file():
                texts[path] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def _api_routes(option: str | None) -> tuple[list[ApiRoute] | None, list[Problem]]:
    """The API's routes: from --api (unreadable: an error), else from ./template.yaml when there
    is one (unreadable, e.g. YAML without PyYAML: a warning, the check is skipped)."""
    if option is not None and option.strip().lower() == "none":
        return None, []
    if option is not None:
        return read_api_routes(Path(option)), []
    if not DEFAULT_API.is_file():
        return None, []
    try:
        return read_api_routes(DEFAULT_API), []
    except ConfigError as error:
        skipped = f"API routes not checked: {error}"
        return None, [Problem("route", skipped, DEFAULT_API, None, None, "warning")]


def _report(
    args: argparse.Namespace,
    problems: list[Problem],
    texts: dict[Path, str],
    code: Exit,
    summary: dict[str, Any] | None,
) -> int:
    errors, warnings = counts(problems)
    if args.json:
        document: dict[str, Any] = {
            "passed": code == Exit.OK,
            "exitCode": int(code),
            "errors": [p.as_json() for p in problems if p.severity == "error"],
            "warnings": [p.as_json() for p in problems if p.severity == "warning"],
            **(summary or {}),
        }
        print(json.dumps(document, indent=2))
        return int(code)
    if summary is None and problems and problems[0].kind == "config":
        print(f"error: {problems[0].message}", file=sys.stderr)
        return int(code)
    if problems:
        print(render_all(problems, texts))
    if summary is None:
        print(f"failed to parse {plural(len(problems), 'file')}")
        return int(code)
    outcome = "passed" if code == Exit.OK else "failed"
    found = f" ({plural(errors, 'error')}, {plural(warnings, 'warning')})" if problems else ""
    policies = summary["policies"]
    counted = (
        f"{policies} polic{'y' if policies == 1 else 'ies'}, "
        f"{plural(summary['templates'], 'template')}, {plural(summary['links'], 'link')} in "
        f"{plural(summary['files'], 'file')}; {plural(len(summary['routes']), 'route')}"
    )
    if summary["api"]:
        counted += f", checked against {summary['api']}"
    print(f"policy set validation {outcome}{found}: {counted}")
    return int(code)
