"""Which execute-api resource patterns an IAM answer may carry (pure).

API Gateway caches a token-keyed authorizer's IAM policy and reuses it for every route the token
reaches. IAM's `*` spans any characters, `/` included, and an explicit Deny wins over any Allow,
so a route's pattern (its parameters as `*`) covers requests of other routes: `GET/files/*`
covers `GET/files/a/raw`. A cached policy is right only if, for every request of every route,
it says what the authorizer would. Patterns are worked out per verb (an ANY route has one per
HTTP method: `*/search` would span `/`). ``route_policy`` emits:

- a route's Deny pattern only if it covers no request of an allowed route;
- a route's Allow pattern only if it covers no request of a denied route whose Deny pattern was
  not emitted (one that was wins anyway);
- the event's own ARN when its route is allowed and its pattern could not be emitted;
- a Deny of every path with a doubled or trailing slash, which the route table reads as a route
  but that route's own patterns do not cover.

A route left out is implicitly denied from the cache (a 403 until the cache expires: fail
closed). Coverage is decided exactly, as the intersection of two regular languages (a route's
requests: literal characters, a parameter one or more characters without `/`, a greedy
parameter one or more of any; a pattern's: `*` any run, `?` one character), not on one sample
path. Worked out once per pair of route and pattern.

A request path holding `*` or `?` would itself be a pattern in the answer: ``exact_answer``
never lets it widen an Allow.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping

from authorizer.gateway.events import HTTP_METHODS, Arn
from authorizer.gateway.response import Effect, wildcard_regex
from authorizer.gateway.routes import Route, template_shape
from authorizer.records import NamedTuple

logger = logging.getLogger(__name__)

# A character class: one character, any character but `/`, or any character.
_NOT_SLASH = "[^/]"
_ANY = "."
# A token: (class, repeated). A route's parameter is a class then the class repeated.
_Token = tuple[str, bool]


def route_policy(
    arn: Arn,
    event_arn: str,
    allowed: Mapping[Route, bool],
    this_allowed: bool,
    per_request: tuple[Route, ...] = (),
) -> tuple[list[str], list[str]] | None:
    """Allow and Deny resources for the token-level routes (``allowed``: each one's answer),
    right for every request of each when cached by token; the API's ``per_request`` routes are
    never allowed from it (an Allow pattern covering one is answered with its Deny, or left
    out). None when the event's ARN is none of ours (a stage or path mapping quirk), is itself
    a pattern, or is not canonical (``_canonical``): then answer for this request alone
    (``exact_answer``)."""
    if _has_wildcard(event_arn) or not _canonical(arn.method, arn.path):
        return None
    found = _route_patterns(arn.api_prefix, tuple(allowed), tuple(allowed.values()), per_request)
    allow, deny, ours, said = found
    if ours.fullmatch(event_arn) is None:
        return None  # the event's ARN is not one of ours
    # Its route's pattern could not be emitted: the event's own ARN says its answer.
    if said[this_allowed].fullmatch(event_arn) is None:
        return (
            ([*allow, event_arn], list(deny)) if this_allowed else (list(allow), [*deny, event_arn])
        )
    return list(allow), list(deny)


def exact_answer(arn: str, allowed: bool) -> tuple[Effect, str]:
    """The answer for one request: its ARN, unless the path holds `*` or `?`, which IAM would
    read as wildcards. An Allow then cannot be said exactly (cached, `GET/c/*` would allow every
    route under /c/): Deny, and logged. A Deny covers the ARN with each wildcard as `?`."""
    if not _has_wildcard(arn):
        return ("Allow" if allowed else "Deny"), arn
    if allowed:
        logger.error("denied: the request path holds `*` or `?`, which an IAM policy reads as "
                     "wildcards, so no Allow can name it alone")  # fmt: skip
    return "Deny", arn.replace("*", "?")


# Paths a cached answer denies whatever the routes say (after the API prefix: verb, then path):
# a doubled or trailing slash (the route table reads `/files//x/raw` as a route that
# `GET/files/*/raw` does not cover but `GET/files/*` does); a `.` or `..` segment, which a
# fresh decision refuses (``events.canonical_path``) but a cached `GET/pub/*` allowed
# (`GET/pub/../internal/x`): spelled with dots, and (wider, failing closed) any segment
# starting with an encoded dot, and any path holding an encoded slash or a backslash (after
# which a decoded `.` or `..` part may start: `a%2F..`).
_NOT_CANONICAL = ("*//*", "*/?*/", "*/./*", "*/.", "*/../*", "*/..", "*/%2e*", "*/%2E*",
                  "*/.%2e*", "*/.%2E*", "*%2f*", "*%2F*", "*%5c*", "*%5C*", "*\\*")  # fmt: skip


def _canonical(verb: str, path: str) -> bool:
    """A request none of ``_NOT_CANONICAL`` matches (the root's `GET/` aside): the routes'
    requests as the patterns are worked out for. Others are denied from the cache and answered
    for themselves alone. (String tests, on every token-level answer: the patterns' regex
    backtracks over the whole ARN once per pattern.)"""
    if path == "/":
        return True
    if "//" in path or path.endswith("/") or "\\" in path:
        return False
    if "%" in path and any(code in path for code in _ENCODED_SEPARATORS):
        return False
    if "." not in path and "%" not in path:
        return True
    return not any(
        segment in (".", "..") or segment.startswith(_ENCODED_DOT_STARTS)
        for segment in path.split("/")
    )


_ENCODED_SEPARATORS = ("%2f", "%2F", "%5c", "%5C")
_ENCODED_DOT_STARTS = ("%2e", "%2E", ".%2e", ".%2E")


def _not_canonical(api_prefix: str) -> tuple[str, ...]:
    return tuple(f"{api_prefix}/{shape}" for shape in _NOT_CANONICAL)


def _has_wildcard(arn: str) -> bool:
    return "*" in arn or "?" in arn


@functools.lru_cache(maxsize=1024)
def _route_patterns(
    api_prefix: str,
    routes: tuple[Route, ...],
    allowed: tuple[bool, ...],
    per_request: tuple[Route, ...] = (),
) -> tuple[
    tuple[str, ...], tuple[str, ...], re.Pattern[str], tuple[re.Pattern[str], re.Pattern[str]]
]:
    """``route_policy``'s patterns for an API (its ARN up to the stage) and the routes'
    answers; a regex matching any route's pattern, and (by answer: Deny, Allow) one matching
    the emitted patterns. An ANY route's pattern (`*/search`) spans `/` and may cover a request
    of another route (`GET/files/secret/search`): then it is said verb by verb (`GET/search`,
    `POST/search`...), which covers nothing else; otherwise the one pattern keeps answers short."""
    # An ANY route's verb that a route of that very verb and path takes (`GET /perch` beside
    # `ANY /perch`) gets no request: left out, it neither denies nor is denied.
    specific = {(r.method, template_shape(r.template)) for r in (*routes, *per_request)
                if r.method != "ANY"}  # fmt: skip
    granted = [u for r, ok in zip(routes, allowed, strict=True) if ok for u in _taken(r, specific)]
    refused = [
        u for r, ok in zip(routes, allowed, strict=True) if not ok for u in _taken(r, specific)
    ]
    # The routes decided per request that an Allow pattern would cover are refused from the
    # cache too (`GET/notes/*` allowed `GET/notes/n1/raw`, whose policies read the request).
    for other in (u for r in per_request for u in _taken(r, specific)):
        if any(_covers(a.pattern, other) for a in granted):
            refused.append(other)
    denies: list[_Unit] = []
    undenied: list[_Unit] = []
    for unit in (v for d in refused for v in _split(d, lambda p: _covers_any(p, granted))):
        (denies if _own(unit, granted) or not _covers_any(unit.pattern, granted) else undenied
         ).append(unit)  # fmt: skip
    allows = [v for a in granted for v in _split(a, lambda p: _covers_any(p, undenied))]
    allows = [a for a in allows if not _covers_any(a.pattern, undenied)]
    allow = tuple(f"{api_prefix}/{u.pattern}" for u in allows)
    deny = tuple(f"{api_prefix}/{u.pattern}" for u in denies)
    every = [f"{api_prefix}/{_whole(r).pattern}" for r in routes]
    said = (_any_of(deny), _any_of(allow))
    return allow, (*deny, *_not_canonical(api_prefix)), _any_of(every), said


def _any_of(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    either = "|".join(f"(?:{wildcard_regex(p).pattern})" for p in patterns) or "(?!)"
    return re.compile(either, re.DOTALL)


class _Unit(NamedTuple):
    """A route, or one verb of an ANY route, and its pattern after the API prefix: the verb
    (`*` for all of an ANY route's), then the path with its parameters as `*`."""

    verbs: tuple[str, ...]
    template: str
    pattern: str
    of_any: bool = False  # one verb of an ANY route


@functools.lru_cache(maxsize=4096)
def _whole(route: Route) -> _Unit:
    path = route.arn_path.lstrip("/")
    if route.method == "ANY":
        return _Unit(HTTP_METHODS, route.template, f"*/{path}", True)
    return _Unit((route.method,), route.template, f"{route.method}/{path}")


def _taken(route: Route, specific: set[tuple[str, tuple[str, ...]]]) -> list[_Unit]:
    """``route``'s units that get requests: an ANY route's verbs less those a route of that
    verb and the same template shape takes (``specific``: theirs). The shape, not the pattern:
    `/a/{p}` and `/a/{g+}` are both `a/*`, but a greedy route's deeper paths are its own."""
    whole = _whole(route)
    if route.method != "ANY":
        return [whole]
    shape = template_shape(route.template)
    taken = {verb for verb in whole.verbs if (verb, shape) in specific}
    if not taken:
        return [whole]
    path = whole.pattern.split("/", 1)[1]
    return [_Unit((verb,), whole.template, f"{verb}/{path}", True)
            for verb in whole.verbs if verb not in taken]  # fmt: skip


def _own(unit: _Unit, granted: list[_Unit]) -> bool:
    """Whether every request ``unit``'s pattern matches is routed to ``unit``'s route: a pattern
    without wildcards is one literal path and verb, which API Gateway and the route table send
    to that literal route, never to a parameter route it fits (`GET/cages/vip` beside
    `GET/cages/{cageId}`), unless the unit is an ANY route's verb and a route of that very verb
    and path exists (`GET /a` beside `ANY /a`: the GET route takes it)."""
    if _has_wildcard(unit.pattern):
        return False
    return not unit.of_any or all(g.pattern != unit.pattern or g.of_any for g in granted)


def _split(unit: _Unit, covers_something: Callable[[str], bool]) -> list[_Unit]:
    """``unit`` as it is, or, when it is an ANY route's whose one pattern covers something it
    must not, one unit per verb."""
    if len(unit.verbs) == 1 or not covers_something(unit.pattern):
        return [unit]
    path = unit.pattern.split("/", 1)[1]
    return [_Unit((verb,), unit.template, f"{verb}/{path}", True) for verb in unit.verbs]


def _covers_any(pattern: str, units: list[_Unit]) -> bool:
    return any(_covers(pattern, unit) for unit in units)


@functools.lru_cache(maxsize=1 << 17)  # units x patterns: 300 routes' pairs stay cached
def _covers(pattern: str, unit: _Unit) -> bool:
    """Whether ``pattern`` (after the API prefix) matches some request of ``unit``."""
    tokens = _pattern_tokens(pattern)
    return any(_meet(_route_tokens(verb, unit.template), tokens) for verb in unit.verbs)


@functools.lru_cache(maxsize=4096)
def _route_tokens(verb: str, template: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = [(c, False) for c in f"{verb}/"]
    for index, segment in enumerate(template_shape(template)):
        if index:
            tokens.append(("/", False))
        if segment in ("{}", "{+}"):  # a parameter: one or more characters (`/` if greedy)
            kind = _ANY if segment == "{+}" else _NOT_SLASH
            tokens += [(kind, False), (kind, True)]
        else:
            tokens += [(c, False) for c in segment]
    return tuple(tokens)


@functools.lru_cache(maxsize=4096)
def _pattern_tokens(pattern: str) -> tuple[_Token, ...]:
    return tuple((_ANY, True) if c == "*" else (_ANY, False) if c == "?" else (c, False)
                 for c in pattern)  # fmt: skip


def _classes_meet(a: str, b: str) -> bool:
    """Some character is in both classes."""
    if _ANY in (a, b):
        return True
    if a == _NOT_SLASH:
        return b != "/"
    if b == _NOT_SLASH:
        return a != "/"
    return a == b


@functools.lru_cache(maxsize=16384)
def _meet(route: tuple[_Token, ...], pattern: tuple[_Token, ...]) -> bool:
    """Whether some string matches both token sequences: a search over pairs of positions,
    a repeated token consuming a character and staying, or being skipped."""
    end = (len(route), len(pattern))
    seen = {(0, 0)}
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) == end:
            return True
        steps = []
        if i < len(route) and route[i][1]:
            steps.append((i + 1, j))  # the repeated token matches nothing more
        if j < len(pattern) and pattern[j][1]:
            steps.append((i, j + 1))
        if i < len(route) and j < len(pattern) and _classes_meet(route[i][0], pattern[j][0]):
            steps.append((i if route[i][1] else i + 1, j if pattern[j][1] else j + 1))
        for step in steps:
            if step not in seen:
                seen.add(step)
                todo.append(step)
    return False
