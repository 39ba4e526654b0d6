"""Cedar's human-readable schema syntax (``.cedarschema``) -> Cedar's JSON schema format.

cedarpy parses a schema but cannot show its structure, so we read the text ourselves. Cedar stays
the judge of validity: ``cedarschema_to_json`` hands the text to ``cedarpy.Schema.from_str`` first,
and this module's parser only ever has to understand text that Cedar accepted. The tokenizer and
the recursive-descent parser follow Cedar's own LALR grammar
(cedar-policy-core/src/validator/cedar_schema/grammar.lalrpop) production by production, and the
output follows Cedar's converter (to_json_schema.rs): every type name becomes
``{"type": "EntityOrCommon", "name": ...}`` and is resolved later, exactly as Cedar does.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_right
from typing import Any

import cedarpy

from authorizer.errors import SchemaError
from authorizer.records import NamedTuple

__all__ = ["MAX_NESTING", "cedarschema_to_json"]

# cedarpy 4.12.2 overflows its stack and kills the process (SIGSEGV, no exception) on schemas
# nested ~3000 records deep, and its JSON reader refuses more than 128 levels; our JSON output
# takes about two levels per text level. Real schemas nest a handful of levels.
MAX_NESTING = 60

# Rust's `\s` (Unicode White_Space); Python's `\s` also matches \x1c-\x1f, which Cedar rejects.
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_TOKEN = re.compile(
    f"(?P<ws>[{_WS}]+)"
    r"|(?P<comment>//[^\n\r]*)"
    r"|(?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|(?P<number>[0-9]+)"  # a token in Cedar's lexer, used by no production
    r'|(?P<str>"(?:\\.|[^"\\])*")'
    r"|(?P<punct>::|[,;:{}\[\]<>=?@()])"
)
_OPENERS = {"{", "[", "<", "("}
_CLOSERS = {"}", "]", ">", ")"}
# Cedar unescapes string literals with Rust's rules (rustc_lexer::unescape_str).
_ESCAPE = re.compile(r"\\(?:u\{([0-9a-fA-F_]*)\}|x([0-9a-fA-F]{2})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0", "'": "'", '"': '"'}


class _SyntaxError(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


class _Token(NamedTuple):
    kind: str  # "ident" | "str" | "number" | "punct" | "eof"
    value: str  # the identifier, the unescaped string, or the punctuation
    line: int
    col: int


class _Lines:
    """Offset -> (line, column), both 1-based."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def _unescape(body: str, line: int, col: int) -> str:
    def one(m: re.Match[str]) -> str:
        code, hex2, char = m.groups()
        if code is not None:
            digits = code.replace("_", "")
            if code.startswith("_") or not 1 <= len(digits) <= 6:
                raise _SyntaxError(f"invalid unicode escape {m.group()!r}", line, col)
            value = int(digits, 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise _SyntaxError(f"invalid unicode escape {m.group()!r}", line, col)
            return chr(value)
        if hex2 is not None:
            if int(hex2, 16) > 0x7F:
                raise _SyntaxError(f"\\x escape above 0x7f: {m.group()!r}", line, col)
            return chr(int(hex2, 16))
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        raise _SyntaxError(f"invalid escape {m.group()!r}", line, col)

    return _ESCAPE.sub(one, body)


def _tokenize(text: str) -> list[_Token]:
    lines, tokens, pos = _Lines(text), [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line, col = lines.at(pos)
            what = "unterminated string" if text[pos] == '"' else f"unexpected {text[pos]!r}"
            raise _SyntaxError(what, line, col)
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            line, col = lines.at(pos)
            value = _unescape(m.group()[1:-1], line, col) if kind == "str" else m.group()
            tokens.append(_Token(kind, value, line, col))
        pos = m.end()
    line, col = lines.at(len(text))
    tokens.append(_Token("eof", "", line, col))
    return tokens


def _nesting(text: str) -> tuple[int, int]:
    """Deepest bracket nesting, and where; strings and comments skipped, stray bytes ignored.

    Runs before Cedar sees the text (see MAX_NESTING), so it must not fail on anything."""
    depth = deepest = where = pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] == '"':  # unterminated: the rest is string, and rescanning it is O(n²)
                break
            pos += 1
            continue
        if m.lastgroup == "punct" and m.group() in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest, where = depth, pos
        elif m.lastgroup == "punct" and m.group() in _CLOSERS:
            depth = max(depth - 1, 0)
        pos = m.end()
    return deepest, _Lines(text).at(where)[0]


class _Parser:
    """Recursive descent over Cedar's schema grammar; emits the JSON schema format."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.pos = tokens, 0

    # --- cursor -------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.pos += token.kind != "eof"
        return token

    def at(self, value: str, ahead: int = 0) -> bool:
        """Punctuation or a keyword. Keywords are plain identifiers to the tokenizer because
        Cedar lets most of them serve as names too (`type`, `context`, `namespace`...)."""
        token = self.peek(ahead)
        return token.kind in ("punct", "ident") and token.value == value

    def accept(self, value: str) -> bool:
        if self.at(value):
            self.pos += 1
            return True
        return False

    def expect(self, value: str) -> _Token:
        if not self.at(value):
            self.fail(f"expected `{value}`")
        return self.take()

    def fail(self, message: str) -> None:
        token = self.peek()
        found = "end of input" if token.kind == "eof" else f"`{token.value}`"
        raise _SyntaxError(f"{message}, found {found}", token.line, token.col)

    def ident(self) -> str:
        if self.peek().kind != "ident":
            self.fail("expected an identifier")
        return self.take().value

    def name(self) -> str:
        """Name := IDENT | STR (attribute and action names)."""
        if self.peek().kind == "str":
            return self.take().value
        return self.ident()

    def path(self) -> str:
        """Path := IDENT {'::' IDENT}"""
        parts = [self.ident()]
        while self.at("::") and self.peek(1).kind == "ident":
            self.pos += 1
            parts.append(self.ident())
        return "::".join(parts)

    def comma_list(self, item: Any, close: str) -> list[Any]:
        """Items separated by commas up to `close` (no trailing comma, as in Cedar)."""
        items = []
        if not self.at(close):
            items.append(item())
            while self.accept(","):
                items.append(item())
        self.expect(close)
        return items

    # --- schema -------------------------------------------------------------------------------
    def schema(self) -> dict[str, Any]:
        """Schema := {Namespace}; top-level declarations all join the empty namespace."""
        doc: dict[str, Any] = {}
        while self.peek().kind != "eof":
            annotations = self.annotations()
            if self.at("namespace"):
                self.take()
                name = self.path()
                namespace = doc.setdefault(name, _namespace())
                if annotations:
                    namespace["annotations"] = annotations
                self.expect("{")
                while not self.accept("}"):
                    self.declaration(self.annotations(), namespace)
            else:
                self.declaration(annotations, doc.setdefault("", _namespace()))
        return {name: _tidy(namespace) for name, namespace in doc.items()}

    def annotations(self) -> dict[str, str]:
        """Annotation := '@' AnyIdent ['(' STR ')'];  `@name` alone means `@name("")`."""
        found: dict[str, str] = {}
        while self.accept("@"):
            key = self.ident()
            value = ""
            if self.accept("("):
                if self.peek().kind != "str":
                    self.fail("expected a string")
                value = self.take().value
                self.expect(")")
            found[key] = value
        return found

    def declaration(self, annotations: dict[str, str], namespace: dict[str, Any]) -> None:
        if self.accept("entity"):
            self.entity(annotations, namespace["entityTypes"])
        elif self.accept("action"):
            self.action(annotations, namespace["actions"])
        elif self.accept("type"):
            name = self.ident()
            self.expect("=")
            namespace["commonTypes"][name] = _annotated(self.type(), annotations)
            self.expect(";")
        else:
            self.fail("expected `entity`, `action`, `type` or `namespace`")

    def entity(self, annotations: dict[str, str], entities: dict[str, Any]) -> None:
        """'entity' Idents ['in' EntTypes] [['='] RecType] ['tags' Type] ';'
        | 'entity' Idents 'enum' '[' STR {',' STR} ']' ';'"""
        names = [self.ident()]
        while self.accept(","):
            names.append(self.ident())
        definition: dict[str, Any]
        if self.accept("enum"):
            self.expect("[")
            definition = {"enum": self.comma_list(self.string, "]")}
        else:
            definition = {}
            if self.accept("in"):
                definition["memberOfTypes"] = self.entity_types()
            self.accept("=")
            if self.at("{"):
                definition["shape"] = self.record()
            if self.accept("tags"):
                definition["tags"] = self.type()
        self.expect(";")
        for name in names:
            entities[name] = _annotated(copy.deepcopy(definition), annotations)

    def string(self) -> str:
        if self.peek().kind != "str":
            self.fail("expected a string")
        return self.take().value

    def entity_types(self) -> list[str]:
        """EntTypes := Path | '[' [Path {',' Path}] ']'"""
        if self.accept("["):
            return self.comma_list(self.path, "]")
        return [self.path()]

    def action(self, annotations: dict[str, str], actions: dict[str, Any]) -> None:
        """'action' Names ['in' QualNameOrQualNames] ['appliesTo' '{' AppDecls '}']
        ['attributes' '{' '}'] ';'"""
        names = [self.name()]
        while self.accept(","):
            names.append(self.name())
        definition: dict[str, Any] = {}
        if self.accept("in"):
            if self.accept("["):
                definition["memberOf"] = self.comma_list(self.action_ref, "]")
            else:
                definition["memberOf"] = [self.action_ref()]
        if self.accept("appliesTo"):
            definition["appliesTo"] = self.applies_to()
        if self.accept("attributes"):  # accepted by Cedar only empty, and then ignored
            self.expect("{")
            self.expect("}")
        self.expect(";")
        for name in names:
            actions[name] = _annotated(copy.deepcopy(definition), annotations)

    def action_ref(self) -> dict[str, str]:
        """QualName := Name | Path '::' STR. Without a type it means the Action of the
        declaring namespace (or, failing that, of the empty namespace): resolved later."""
        if self.peek().kind == "str":
            return {"id": self.take().value}
        path = self.path()
        if self.accept("::"):
            return {"type": path, "id": self.string()}
        if "::" in path:
            self.fail('expected `::"id"` after an action type')
        return {"id": path}

    def applies_to(self) -> dict[str, Any]:
        """AppDecls: principal / resource / context entries, comma separated, any order."""
        self.expect("{")
        spec: dict[str, Any] = {}
        keys = {"principal": "principalTypes", "resource": "resourceTypes", "context": "context"}
        while not self.accept("}"):
            token = self.peek()
            if token.value not in keys or token.kind != "ident":
                self.fail("expected `principal`, `resource` or `context`")
            self.take()
            self.expect(":")
            if token.value != "context":
                spec[keys[token.value]] = self.entity_types()
            elif self.at("{"):
                spec["context"] = self.record()
            else:  # a common type: Cedar writes it as a bare common-type reference
                spec["context"] = {"type": self.path()}
            if not self.accept(",") and not self.at("}"):
                self.fail("expected `,` or `}`")
        return spec

    # --- types --------------------------------------------------------------------------------
    def type(self) -> dict[str, Any]:
        """Type := Path | 'Set' '<' Type '>' | RecType"""
        if self.at("{"):
            return self.record()
        if self.at("Set") and self.at("<", 1):
            self.pos += 2
            element = self.type()
            self.expect(">")
            return {"type": "Set", "element": element}
        # `Long`, `Bool`, `ipaddr`... are names like any other: an entity or common type of
        # the same name shadows them, so only resolution can tell.
        return {"type": "EntityOrCommon", "name": self.path()}

    def record(self) -> dict[str, Any]:
        """RecType := '{' [AttrDecls] '}';  AttrDecl := Annotations Name ['?'] ':' Type"""
        self.expect("{")
        attributes: dict[str, Any] = {}
        while not self.accept("}"):
            annotations = self.annotations()
            name = self.name()
            optional = self.accept("?")
            self.expect(":")
            attribute = self.type()
            if optional:
                attribute["required"] = False
            attributes[name] = _annotated(attribute, annotations)
            if not self.accept(",") and not self.at("}"):
                self.fail("expected `,` or `}`")
        return {"type": "Record", "attributes": attributes}


def _namespace() -> dict[str, Any]:
    return {"commonTypes": {}, "entityTypes": {}, "actions": {}}


def _tidy(namespace: dict[str, Any]) -> dict[str, Any]:
    if not namespace["commonTypes"]:
        del namespace["commonTypes"]
    return namespace


def _annotated(definition: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    if annotations:
        definition["annotations"] = dict(annotations)
    return definition


def _where(source: str | None, line: int, col: int | None = None) -> str:
    column = f", column {col}" if col is not None else ""
    return f"{source or 'schema'}, line {line}{column}"


def _locate(text: str, message: str) -> tuple[int, int | None] | None:
    """Where Cedar's (location-free) complaint about ``text`` applies, as best we can tell.

    A syntax error is where our parser, which follows the same grammar, stops too. For other
    errors Cedar names the culprit (`failed to resolve type: Lng`, `` `A` is declared twice``):
    we point at its first occurrence, or its second for duplicates."""
    try:
        tokens = _tokenize(text)
        _Parser(tokens).schema()
    except _SyntaxError as error:
        return error.line, error.col
    except RecursionError:
        return None
    duplicate = "twice" in message or "duplicate" in message
    for name in culprits(message):
        wanted = name.rsplit("::", 1)[-1].strip('"')
        hits = [t for t in tokens if t.kind in ("ident", "str") and t.value == wanted]
        if len(hits) > duplicate:
            return hits[duplicate].line, None
    return None


def culprits(message: str) -> list[str]:
    """The names a Cedar error message blames: the `quoted` ones, else the list after its last
    colon (`failed to resolve types: A, B`)."""
    names = re.findall(r"`([^`]+)`", message)
    if not names and ": " in message:
        names = message.rsplit(": ", 1)[1].split(", ")
    return names


def cedarschema_to_json(text: str, *, source: str | None = None) -> dict[str, Any]:
    """The JSON schema format of a ``.cedarschema`` text, after Cedar itself has accepted it.

    ``source`` (a file name) prefixes error messages. Raises ``SchemaError``, never anything else.
    """
    if not isinstance(text, str):
        raise SchemaError(f"{source or 'schema'}: expected text, got {type(text).__name__}")
    deepest, line = _nesting(text)
    if deepest > MAX_NESTING:
        raise SchemaError(f"{_where(source, line)}: nested deeper than {MAX_NESTING} levels")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        line = _Lines(text).at(error.start)[0]
        raise SchemaError(f"{_where(source, line)}: not valid Unicode text") from None
    try:
        cedarpy.Schema.from_str(text)
    except Exception as error:  # cedarpy raises ValueError; it is foreign code, so take anything
        located = _locate(text, str(error))
        where = _where(source, *located) if located else source or "schema"
        raise SchemaError(f"{where}: {error}") from None
    try:
        return _Parser(_tokenize(text)).schema()
    except _SyntaxError as error:
        raise SchemaError(
            f"{_where(source, error.line, error.col)}: Cedar accepts this schema but "
            f"authorizer.cedar.schema_text cannot read it ({error.message})"
        ) from None
    except RecursionError:
        raise SchemaError(f"{source or 'schema'}: nested too deeply to read") from None
