"""Load ``*.cedar`` files into one policy set whose policy ids are the policies' ``@id``s.

Cedar numbers policies by position (``policy0``...) per parse, which would make determining
policies unreadable and unstable across files. Each file is parsed to Cedar's JSON form, its
policies renamed to their ``@id`` (or ``<file>:<line>`` when they have none), and the set is built
from that JSON, so ``is_authorized`` reports ``@id``s directly. A file that does not parse or a
duplicate ``@id`` raises ``PolicyError`` naming the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cedarpy

from authorizer.errors import PolicyError
from authorizer.records import NamedTuple

MAX_POLICY_FILE_BYTES = 8 * 1024 * 1024


class PolicySource(NamedTuple):
    """Where a policy came from, for messages and `explain`."""

    id: str
    file: Path
    line: int
    cedar_id: str  # Cedar's positional id within its file (validation errors use it)
    is_template: bool
    json: Mapping[str, Any]


class LoadedPolicies(NamedTuple):
    sources: Mapping[str, PolicySource]  # by id
    files: Mapping[Path, str]  # file -> text
    document: Mapping[str, Any]  # Cedar JSON policy set
    version: str  # digest of every file's name and text

    def policy_set(self) -> cedarpy.PolicySet:
        return cedarpy.PolicySet.from_json_str(json.dumps(dict(self.document)))


# One pass over a file: strings (an unterminated one runs to the end; an escape skips line
# breaks to the character it escapes), `//` comments (ended by CR or LF, as Cedar ends them) and
# the `;` outside both, which ends a statement.
_STRING_OR_COMMENT = r'"(?:[^"\\]|\\[\r\n]*[^\r\n]|\\[\r\n]*\Z)*"?|//[^\r\n]*'
_TOKENS = re.compile(_STRING_OR_COMMENT + "|;")
_VISIBLE = re.compile(r"\S")


def statements(text: str) -> list[tuple[int, str]]:
    """Each top-level statement (policy or template) with the 1-based line it starts on. A `;`
    outside strings and comments ends one: Cedar has no `;` inside expressions. One pass: the
    line numbers are counted as the scan goes (linear in the text, whatever the policy count)."""
    found: list[tuple[int, str]] = []
    start = 0  # of the current statement
    first: int | None = None  # its first character outside comments and whitespace
    line, counted = 1, 0  # the line of position ``counted``
    position = 0
    for token in _TOKENS.finditer(text):
        if first is None:
            visible = _VISIBLE.search(text, position, token.start())
            if visible is not None:
                first = visible.start()
            elif not token.group().startswith("//"):
                first = token.start()
        position = token.end()
        if token.group() == ";":
            begin = token.start() if first is None else first  # (first is set: the `;` is)
            line += text.count("\n", counted, begin)
            counted = begin
            found.append((line, text[start:position]))
            start, first = position, None
    if first is None:
        visible = _VISIBLE.search(text, position)
        first = visible.start() if visible is not None else None
    if first is not None:
        line += text.count("\n", counted, first)
        found.append((line, text[start:]))
    return found


# Cedar's parser recurses, and past ~650 nested brackets (or thousands of nested `if`s, or of
# `.a` in a row) it overflows its stack: the process dies (a segfault, not an error), a running
# authorizer with it when a bundle holds such a text. Texts far beyond anything written by
# hand, and far below those depths, are refused before Cedar reads them.
MAX_NESTING = 100  # brackets: ( [ {
MAX_IFS = 200  # per statement
MAX_ACCESS_CHAIN = 1000  # `.name` in a row
_STRINGS_AND_COMMENTS = re.compile(_STRING_OR_COMMENT)
_BRACKETS = re.compile(r"[()\[\]{}]")
_IF = re.compile(r"\bif\b")
_ACCESS_CHAIN = re.compile(rf"(?:\.\s*[A-Za-z_]\w*\s*){{{MAX_ACCESS_CHAIN + 1}}}")


def nesting_problem(text: str) -> str | None:
    """Why Cedar must not be given ``text`` (None: it may): nested too deep for its parser."""
    code = _STRINGS_AND_COMMENTS.sub(" ", text)
    depth = deepest = 0
    for bracket in _BRACKETS.findall(code):
        if bracket in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    if deepest > MAX_NESTING:
        return f"brackets nest {deepest} deep (at most {MAX_NESTING})"
    if code.count("if") > MAX_IFS:  # (a cheap bound first: most texts stop here)
        for statement in code.split(";"):
            if len(_IF.findall(statement)) > MAX_IFS:
                return f"a policy holds more than {MAX_IFS} `if`s"
    if _ACCESS_CHAIN.search(code):
        return f"more than {MAX_ACCESS_CHAIN} `.name` accesses in a row"
    return None


def _locate_parse_error(text: str) -> int | None:
    """Line of the first statement that does not parse on its own."""
    for line, statement in statements(text):
        try:
            cedarpy.policies_to_json_str(statement)
        except ValueError:
            return line
    return None


def parse_file(path: Path, text: str, name: str | None = None) -> list[PolicySource]:
    """``name`` (the path relative to the policy directory) names policies without an @id."""
    deep = nesting_problem(text)
    if deep is not None:
        raise PolicyError(f"{path}: policy does not parse: {deep}")
    try:
        document = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as error:
        line = _locate_parse_error(text)
        where = f"{path}:{line}" if line else str(path)
        raise PolicyError(f"{where}: policy does not parse: {error}") from None
    lines = [line for line, _ in statements(text)]
    entries = [(cid, body, True) for cid, body in document.get("templates", {}).items()]
    entries += [(cid, body, False) for cid, body in document.get("staticPolicies", {}).items()]
    entries.sort(key=lambda entry: int(entry[0].removeprefix("policy")))
    sources = []
    for index, (cedar_id, body, is_template) in enumerate(entries):
        line = lines[index] if index < len(lines) else 0
        annotated = body.get("annotations", {}).get("id")
        policy_id = annotated if annotated else f"{name or path.name}:{line}"
        sources.append(PolicySource(policy_id, path, line, cedar_id, is_template, body))
    return sources


def policy_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise PolicyError(f"policy directory {directory} does not exist")
    files = sorted(p for p in directory.rglob("*.cedar") if p.is_file())
    if not files:
        raise PolicyError(f"no *.cedar files in {directory}: refusing to start with no policies")
    return files


def read_policy_files(directory: Path) -> dict[Path, str]:
    """Every ``*.cedar`` file under ``directory`` with its text, in a stable order."""
    texts: dict[Path, str] = {}
    for path in policy_files(directory):
        if path.stat().st_size > MAX_POLICY_FILE_BYTES:
            raise PolicyError(f"{path}: larger than {MAX_POLICY_FILE_BYTES} bytes")
        try:
            texts[path] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise PolicyError(f"{path}: cannot be read: {error}") from None
    return texts


def policies_version(directory: Path, texts: Mapping[Path, str]) -> str:
    """Digest of every file's name (relative to ``directory``) and text."""
    digest = hashlib.sha256()
    for path, text in texts.items():
        digest.update(f"{path.relative_to(directory).as_posix()}\0{text}\0".encode())
    return digest.hexdigest()[:16]


def load_policies(directory: Path, texts: Mapping[Path, str] | None = None) -> LoadedPolicies:
    """Parse every policy file (``texts``: as ``read_policy_files`` read them)."""
    texts = read_policy_files(directory) if texts is None else texts
    sources: list[PolicySource] = []
    for path, text in texts.items():
        sources += parse_file(path, text, path.relative_to(directory).as_posix())
    return assemble(directory, sources, texts)


def assemble(
    directory: Path, found: list[PolicySource], texts: Mapping[Path, str]
) -> LoadedPolicies:
    """The policy set of the parsed ``found``: @ids unique, at least one policy or template (a
    set of templates alone is how Verified Permissions stores are laid out: their links come
    from CEDAR_TEMPLATE_LINKS or the bundle; unlinked, nothing is allowed)."""
    sources: dict[str, PolicySource] = {}
    for source in found:
        if source.id in sources:
            other = sources[source.id]
            raise PolicyError(
                f"{source.file}:{source.line}: duplicate policy @id({source.id!r}), "
                f"first at {other.file}:{other.line}"
            )
        sources[source.id] = source
    if not sources:
        raise PolicyError(f"{directory}: no policies (empty files)")
    document = {
        "staticPolicies": {i: s.json for i, s in sources.items() if not s.is_template},
        "templates": {i: s.json for i, s in sources.items() if s.is_template},
        "templateLinks": [],
    }
    return LoadedPolicies(sources, texts, document, policies_version(directory, texts))
