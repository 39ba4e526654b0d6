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
from collections.abc import Mapping

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
    out). None when the event's ARN is none of
    ours (a stage or path mapping quirk), is itself a pattern, or has an empty segment: then
    answer for this request alone (``exact_answer``)."""
    if _has_wildcard(event_arn) or not _canonical(arn.path):
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


def _canonical(path: str) -> bool:
    """A path with no empty segment (the root aside): the routes' requests as the patterns are
    worked out for. The route table also reads `/files/x/raw/` and `/files//x/raw` as routes,
    which `GET/files/*/raw` does not cover but `GET/files/*` does: such paths are denied from
    the cache (``_not_canonical``) and answered for themselves alone."""
    return path == "/" or ("//" not in path and not path.endswith("/"))


def _not_canonical(api_prefix: str) -> tuple[str, ...]:
    """Patterns of every path with a doubled or a trailing slash (not the root's `GET/`), or a
    `.` or `..` segment, which a fresh decision refuses (``events.canonical_path``) but a cached
    `GET/pub/*` allowed (`GET/pub/../internal/x`). Percent-encoded dots are the backend's to
    refuse from the cache: IAM's wildcards cannot name their spellings but one by one."""
    return (
        f"{api_prefix}/*//*", f"{api_prefix}/*/?*/",
        f"{api_prefix}/*/./*", f"{api_prefix}/*/.", f"{api_prefix}/*/../*", f"{api_prefix}/*/..",
    )  # fmt: skip


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
    the emitted patterns. Worked out per verb of each route (``_Unit``): an ANY route's `*/search`
    spanned `/` and covered `GET/admin/search` of a denied route, so it was left out of the
    answer, where `GET/search`, `POST/search`... say it exactly."""
    granted = [u for r, ok in zip(routes, allowed, strict=True) if ok for u in _units(r)]
    refused = [u for r, ok in zip(routes, allowed, strict=True) if not ok for u in _units(r)]
    # The routes decided per request that an Allow pattern would cover are refused from the
    # cache too (`GET/notes/*` allowed `GET/notes/n1/raw`, whose policies read the request).
    refused += [
        u for r in per_request for u in _units(r) if any(_covers(a.pattern, u) for a in granted)
    ]
    denies = [d for d in refused if not any(_covers(d.pattern, a) for a in granted)]
    emitted = set(denies)
    undenied = [d for d in refused if d not in emitted]
    allows = [a for a in granted if not any(_covers(a.pattern, d) for d in undenied)]
    allow = tuple(f"{api_prefix}/{u.pattern}" for u in allows)
    deny = tuple(f"{api_prefix}/{u.pattern}" for u in denies)
    every = [f"{api_prefix}/{u.pattern}" for r in routes for u in _units(r)]
    said = (_any_of(deny), _any_of(allow))
    return allow, (*deny, *_not_canonical(api_prefix)), _any_of(every), said


def _any_of(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    either = "|".join(f"(?:{wildcard_regex(p).pattern})" for p in patterns) or "(?!)"
    return re.compile(either, re.DOTALL)


class _Unit(NamedTuple):
    """One verb of a route (an ANY route has one per HTTP method), and its pattern after the
    API prefix: the verb, then the path with its parameters as `*`."""

    verb: str
    template: str
    pattern: str


@functools.lru_cache(maxsize=4096)
def _units(route: Route) -> tuple[_Unit, ...]:
    verbs = HTTP_METHODS if route.method == "ANY" else (route.method,)
    path = route.arn_path.lstrip("/")
    return tuple(_Unit(verb, route.template, f"{verb}/{path}") for verb in verbs)


@functools.lru_cache(maxsize=1 << 17)  # units x patterns: 300 routes' pairs stay cached
def _covers(pattern: str, unit: _Unit) -> bool:
    """Whether ``pattern`` (after the API prefix) matches some request of ``unit``."""
    return _meet(_route_tokens(unit.verb, unit.template), _pattern_tokens(pattern))


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
