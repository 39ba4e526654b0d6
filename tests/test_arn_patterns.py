"""authorizer.gateway.arn_patterns: the IAM answer API Gateway caches per token is right (or
fails closed) for every request of every token-level route, not only the one asked.

API Gateway reads the policy as ``response.policy_outcome`` does: `*` spans any characters,
`/` included, `?` is one character, an explicit Deny wins, no statement is a deny."""

from __future__ import annotations

import itertools

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from authorizer.gateway.arn_patterns import exact_answer, route_policy
from authorizer.gateway.events import parse_arn
from authorizer.gateway.response import iam_policy, iam_policy_statements, policy_outcome
from authorizer.gateway.routes import Route, RouteTable
from authorizer.tooling.local import apigw

LITERALS = ("a", "b", "c")
VALUES = ("a", "b", "x")  # a parameter's value: sometimes another route's literal
GREEDY_VALUES = ("a", "x", "a/b", "x/a/c")


def route(method: str, template: str) -> Route:
    return Route(method, template, "Api::Action", f"{method.lower()} {template}")


def requests_of(of: Route) -> list[tuple[str, str]]:
    """(verb, concrete path) requests of a route: its parameters as a few values each, and
    with a trailing and a doubled slash (the route table reads those as the route too)."""
    choices = []
    for segment in of.template.strip("/").split("/"):
        if segment.endswith("+}"):
            choices.append(GREEDY_VALUES)
        elif segment.startswith("{"):
            choices.append(VALUES)
        else:
            choices.append((segment,))
    verbs = ("GET", "POST", "DELETE") if of.method == "ANY" else (of.method,)
    paths = ["/" + "/".join(parts) for parts in itertools.product(*choices)]
    odd = [p + "/" for p in paths[:2]] + [p.replace("/", "//", 2)[1:] for p in paths[:2]]
    return [(verb, path) for verb in verbs for path in paths + odd]


segment = st.sampled_from([*LITERALS, "{p}"])
templates = st.tuples(
    st.lists(segment, min_size=1, max_size=3), st.booleans()
).map(lambda t: "/" + "/".join(t[0] + (["{g+}"] if t[1] else [])))  # fmt: skip
route_sets = st.lists(
    st.tuples(st.sampled_from(["GET", "POST", "ANY"]), templates).map(lambda t: route(*t)),
    min_size=1, max_size=6, unique_by=lambda r: (r.method, r.template),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(routes=route_sets, data=st.data())
def test_a_cached_answer_never_allows_what_the_authorizer_denies(
    routes: list[Route], data: st.DataObject
) -> None:
    allowed = {r: data.draw(st.booleans()) for r in routes}
    asked = data.draw(st.sampled_from(routes))
    # A request the route table (as API Gateway) sends to the route asked: `/a/a` fits
    # `/a/{g+}` but goes to a literal `/a/a` where there is one.
    table = RouteTable(routes)
    sent = [(v, p) for v, p in requests_of(asked) if "//" not in p and not p.endswith("/")
            and (found := table.match(v, p)) is not None and found.route == asked]  # fmt: skip
    assume(sent)
    verb, path = data.draw(st.sampled_from(sent))
    event_arn = apigw.method_arn(verb, path)
    policy = route_policy(parse_arn(event_arn), event_arn, allowed, allowed[asked])
    assert policy is not None
    document = iam_policy_statements("p", *policy, {})["policyDocument"]
    # The request asked is answered as the authorizer decided it.
    assert policy_outcome(document, event_arn) == ("allow" if allowed[asked] else "deny")
    # Every request of every denied route, from the cache: never an Allow. (A request that is
    # also one of an allowed route is decided by the route API Gateway picks for it, the more
    # specific: either answer can be right.) An allowed route's request may fail closed.
    granted = {request for r, ok in allowed.items() if ok for request in requests_of(r)}
    for other, ok in allowed.items():
        for verb, path in requests_of(other):
            if not ok and (verb, path) not in granted:
                found = policy_outcome(document, apigw.method_arn(verb, path))
                assert found != "allow", (other, verb, path, policy)


def test_answers_are_exact_where_no_pattern_would_be() -> None:
    """Found by a run of hostile routes: `files/*/raw` (a Deny) covered `GET /files/a/b/raw` of
    the allowed greedy `/files/{path+}`, so the authorizer's own answer denied its Allow; and a
    denied ANY route's `*/health` (a `*` in the method spans `/`) denied `GET /users/health`."""
    files, raw = route("GET", "/files/{path+}"), route("GET", "/files/{name}/raw")
    users, health = route("GET", "/users/{id}"), route("ANY", "/health")
    for routes, asked in (({files: True, raw: False}, "/files/a/b/raw"),
                          ({users: True, health: False}, "/users/health")):  # fmt: skip
        arn = apigw.method_arn("GET", asked)
        policy = route_policy(parse_arn(arn), arn, routes, True)
        assert policy is not None
        document = iam_policy_statements("p", *policy, {})["policyDocument"]
        assert policy_outcome(document, arn) == "allow"


def test_a_path_with_an_empty_segment_is_answered_for_itself_and_denied_from_the_cache() -> None:
    """The route table reads `/files/x/raw/` as `/files/{id}/raw`, which `GET/files/*/raw` (its
    Deny) does not cover but `GET/files/*` (the Allow of `/files/{id}`) does: cached, it was an
    Allow on the denied route."""
    routes = {route("GET", "/files/{id}"): True, route("GET", "/files/{id}/raw"): False}
    arn = apigw.method_arn("GET", "/files/a")
    policy = route_policy(parse_arn(arn), arn, routes, True)
    assert policy is not None
    document = iam_policy_statements("p", *policy, {})["policyDocument"]
    for odd in ("/files/x/raw/", "/files//x/raw", "/files/x//raw", "/files/a/"):
        assert policy_outcome(document, apigw.method_arn("GET", odd)) == "deny", odd
    assert policy_outcome(document, apigw.method_arn("GET", "/")) == "implicit-deny"
    trailing = apigw.method_arn("GET", "/files/a/")
    assert route_policy(parse_arn(trailing), trailing, routes, True) is None


def test_a_path_holding_a_wildcard_is_never_allowed_as_a_pattern() -> None:
    """`GET /c/*` allowed as its raw ARN was `Allow .../GET/c/*`: cached per token, it allowed
    every route under /c/, those the authorizer denies included."""
    arn = apigw.method_arn("GET", "/c/*")
    routes = {route("GET", "/c/{cid}"): True, route("GET", "/c/{cid}/d"): False}
    assert route_policy(parse_arn(arn), arn, routes, True) is None
    assert exact_answer(arn, True) == ("Deny", arn.replace("*", "?"))
    assert exact_answer(arn, False) == ("Deny", arn.replace("*", "?"))
    plain = apigw.method_arn("GET", "/c/1")
    assert exact_answer(plain, True) == ("Allow", plain)
    cached = iam_policy("p", *exact_answer(arn, False)[:1], [exact_answer(arn, False)[1]], {})
    assert policy_outcome(cached["policyDocument"], apigw.method_arn("GET", "/c/1/d")) != "allow"


def test_an_any_routes_verb_that_a_route_of_that_verb_takes_neither_denies_nor_is_denied() -> None:
    """`GET /perch` allowed beside a refused `ANY /perch`: the ANY route's GET (which gets no
    request: the GET route takes it) took the Allow `GET/perch` out of the answer, a 403 from
    the cache until the TTL."""
    get, anything, nest = route("GET", "/perch"), route("ANY", "/perch"), route("GET", "/nest")
    for path in ("/perch", "/nest"):
        arn = apigw.method_arn("GET", path)
        answer = route_policy(parse_arn(arn), arn, {get: True, anything: False, nest: True}, True)
        assert answer is not None
        document = iam_policy_statements("p", *answer, {})["policyDocument"]
        assert policy_outcome(document, apigw.method_arn("GET", "/perch")) == "allow"
        assert policy_outcome(document, apigw.method_arn("POST", "/perch")) == "deny"


def test_a_dot_part_after_an_encoded_slash_is_denied_from_the_cache() -> None:
    """`a%2F..` decodes to `a/..`, which a fresh decision refuses; `GET/docs/*` allowed it."""
    docs = route("GET", "/docs/{name}")
    arn = apigw.method_arn("GET", "/docs/readme")
    answer = route_policy(parse_arn(arn), arn, {docs: True}, True)
    assert answer is not None
    document = iam_policy_statements("p", *answer, {})["policyDocument"]
    for odd in ("a%2F..", "x%2F.%2Fy", "a%2f.", ".%2Fy", "x%2F%2e%2e"):
        assert policy_outcome(document, apigw.method_arn("GET", f"/docs/{odd}")) == "deny", odd
    assert policy_outcome(document, apigw.method_arn("GET", "/docs/other")) == "allow"


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(["/", "a", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "x", "%"]),
        max_size=7,
    )
)
def test_a_request_is_canonical_exactly_when_no_fixed_deny_pattern_matches_it(
    atoms: list[str],
) -> None:
    """``_canonical`` (string tests) says what the fixed Deny patterns say, as IAM reads them."""
    from authorizer.gateway.arn_patterns import _NOT_CANONICAL, _canonical  # noqa: PLC0415
    from authorizer.gateway.response import wildcard_regex  # noqa: PLC0415

    path = "/" + "".join(atoms)
    matched = any(wildcard_regex(shape).fullmatch(f"GET{path}") for shape in _NOT_CANONICAL)
    assert _canonical("GET", path) is (path == "/" or not matched)
