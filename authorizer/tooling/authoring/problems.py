"""What is wrong with a policy set, where, and how to show it: the Cedar CLI's (miette's) message
style for people, JSON for machines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from authorizer.cedar.policies import LoadedPolicies, PolicySource

Severity = Literal["error", "warning"]
Kind = Literal["parse", "validation", "link", "route", "config"]
SNIPPET_LINES = 8
ERROR_MARK, WARNING_MARK = "\u00d7", "\u26a0"  # miette's marks, as the Cedar CLI prints them


@dataclass(frozen=True)
class Problem:
    kind: Kind
    message: str
    file: Path | None = None
    line: int | None = None
    policy_id: str | None = None
    severity: Severity = "error"

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else str(self.file)

    def as_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "file": str(self.file) if self.file else None,
            "line": self.line,
            "policy": self.policy_id,
            "message": self.message,
        }


def code_start(text: str, line: int) -> int:
    """The first line at or after ``line`` that is not blank or a comment: a statement's
    location includes the comments above it, the snippet starts where the policy does."""
    lines = text.splitlines()
    index = max(line, 1)
    while index <= len(lines) and (not lines[index - 1].strip()
                                   or lines[index - 1].lstrip().startswith("//")):  # fmt: skip
        index += 1
    return index if index <= len(lines) else max(line, 1)


def source_line(policies: LoadedPolicies, source: PolicySource) -> int:
    """Where the policy itself starts (its annotations), past the comments above it."""
    text = policies.files.get(source.file)
    return code_start(text, source.line) if text is not None and source.line else source.line


def locate(text: str | None, needle: str) -> int | None:
    """The line of the first occurrence of ``needle`` in ``text``."""
    offset = text.find(needle) if text is not None else -1
    return text.count("\n", 0, offset) + 1 if text is not None and offset >= 0 else None


def snippet(text: str, line: int, most: int = SNIPPET_LINES) -> list[tuple[int, str]]:
    """The statement starting at ``line`` (up to its `;`), at most ``most`` lines."""
    lines = text.splitlines()
    out: list[tuple[int, str]] = []
    for number in range(line, min(len(lines), line + most - 1) + 1):
        out.append((number, lines[number - 1]))
        if lines[number - 1].rstrip().endswith(";"):
            break
    return out


def render(problem: Problem, texts: Mapping[Path, str]) -> str:
    """One problem as the Cedar CLI prints a diagnostic: the message, then the source."""
    mark = ERROR_MARK if problem.severity == "error" else WARNING_MARK
    if problem.kind == "parse" and problem.file is not None:
        head = [
            f"  {mark} failed to parse policies from file {problem.file}",
            f"  ╰─▶ {problem.message}",
        ]
    else:
        head = [f"  {mark} {problem.message}"]
    text = texts.get(problem.file) if problem.file is not None else None
    if problem.file is None:
        return "\n".join(head)
    if text is None or not problem.line:
        return "\n".join([*head, f"   ╰─[{problem.where}]"])
    start = problem.line
    shown = snippet(text, start, SNIPPET_LINES if problem.kind in ("parse", "validation") else 1)
    width = len(str(shown[-1][0])) if shown else 1
    body = [f" {number:>{width}} │ {content}".rstrip() for number, content in shown]
    pad = " " * (width + 2)
    return "\n".join([*head, f"{pad}╭─[{problem.file}:{start}]", *body, f"{pad}╰────"])


def render_all(problems: Iterable[Problem], texts: Mapping[Path, str]) -> str:
    return "\n".join(render(p, texts) for p in problems)


def counts(problems: Sequence[Problem]) -> tuple[int, int]:
    errors = sum(1 for p in problems if p.severity == "error")
    return errors, len(problems) - errors


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
