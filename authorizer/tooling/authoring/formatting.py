"""Cedar's formatter (cedarpy.format_policies), checked: a file that does not parse is located
at its statement's line (the formatter only says "cannot parse input policies"), and formatted
text must parse to the same policies as the original before anyone writes it back."""

from __future__ import annotations

from pathlib import Path

import cedarpy

from authorizer.tooling.authoring.checks import parse_problems
from authorizer.tooling.authoring.problems import Problem


class FormatError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def format_text(path: Path, text: str, line_width: int = 80, indent_width: int = 2) -> str:
    problems = parse_problems({path: text})
    if problems:
        raise FormatError(problems[0])
    try:
        formatted = cedarpy.format_policies(text, line_width, indent_width)
    except ValueError as error:
        raise FormatError(Problem("parse", str(error), path)) from None
    if not text.strip() and not formatted.strip():
        return text  # nothing to format; keep an empty file empty
    if cedarpy.policies_to_json_str(formatted) != cedarpy.policies_to_json_str(text):
        changed = "the formatter would change what the policies mean: left as it is"
        raise FormatError(Problem("config", changed, path))
    return formatted
