"""Generated applications with many policies, in the layouts real policy stores grow in (one
application per layout and size, written to a scratch folder): what the policy-count rows and
the many-policy cold starts of the bench run on.

Every layout has one policy that allows the request the bench makes and ``count - 1`` others
that cannot apply to it, as a store with one policy per tenant, user, group or record has:

- ``actions``: the others are on other actions;
- ``principals``: on the requested action, scoped to other principals (half
  ``principal == User::"u<i>"``, half ``principal in UserGroup::"g<i>"``);
- ``resources``: on the requested action, scoped to other resources (half
  ``resource == Thing::"t<i>"``, half ``resource in Folder::"f<i>"``);
- ``groups``: group-scoped policies spread over ``ROUTES`` token-level routes
  (``permit (principal in UserGroup::"g<i>", action == Action::"get /r<i % ROUTES>", resource)``);
  the caller is in ``g0``, so one policy applies to it, on ``get /r0``.

The schema declares every route (``ROUTES`` token-level ones and the record routes), so the
route table and the validator see a realistic number of actions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

LAYOUTS = ("actions", "principals", "resources", "groups")
ROUTES = 120  # token-level routes of the `groups` layout
OTHER_ACTIONS = ("get /other", "get /else", "get /more")
POLICIES_PER_FILE = 5_000  # a store of many policies is usually many files

SCHEMA_HEAD = """
namespace Corp {
  type Token = { "scope"?: Set<String>, "client_id"?: String, "token_use"?: String };
  type Ctx = { "token": Token, "request": { "method": String, "path": String, "route": String } };
  entity Application;
  entity UserGroup in [UserGroup];
  entity User in [UserGroup] = { "tenant"?: String };
  entity Folder in [Folder];
  entity Thing in [Folder] = { "tenant": String };
  action "get /things", "get /other", "get /else", "get /more"
    appliesTo { principal: User, resource: Application, context: Ctx };
  action "get /things/{thingId}" appliesTo { principal: User, resource: Thing, context: Ctx };
"""
THINGS = 'action "get /things" '


class Layout(NamedTuple):
    """A generated application and the request the bench makes of it."""

    policy_dir: Path
    schema: Path
    entities: Path
    method: str
    path: str
    template: str
    groups: tuple[str, ...]  # the caller's groups (token claim)


def schema_text() -> str:
    routes = ", ".join(f'"get /r{n}"' for n in range(ROUTES))
    token_level = f"  action {routes}\n    appliesTo {{ principal: User, resource: Application, "
    return SCHEMA_HEAD + token_level + "context: Ctx };\n}\n"


def relevant(layout: str) -> str:
    """The one policy that allows the bench's request."""
    if layout == "groups":
        scope = 'principal in Corp::UserGroup::"g0", action == Corp::Action::"get /r0", resource'
        return f'@id("relevant")\npermit ({scope});'
    if layout == "resources":
        action = 'action == Corp::Action::"get /things/{thingId}"'
        scope = f'principal, {action}, resource in Corp::Folder::"mine"'
        return f'@id("relevant")\npermit ({scope}) when {{ context.request.method == "GET" }};'
    condition = (
        'context.request.method == "GET" && context.token has scope && '
        'context.token.scope.contains("employee:read")'
    )
    scope = 'principal, action == Corp::Action::"get /things", resource'
    return f'@id("relevant")\npermit ({scope}) when {{ {condition} }};'


def other(layout: str, n: int) -> str:
    """Policy ``n`` of those that cannot apply to the bench's request."""
    condition = f'when {{ principal has tenant && principal.tenant == "t{n}" }}'
    if layout == "actions":
        action = f'action == Corp::Action::"{OTHER_ACTIONS[n % len(OTHER_ACTIONS)]}"'
        return f'@id("p{n}")\npermit (principal, {action}, resource) {condition};'
    if layout == "principals":
        principal = f'== Corp::User::"u{n}"' if n % 2 else f'in Corp::UserGroup::"g{n}"'
        action = 'action == Corp::Action::"get /things"'
        return f'@id("p{n}")\npermit (principal {principal}, {action}, resource) {condition};'
    if layout == "resources":
        resource = f'== Corp::Thing::"t{n}"' if n % 2 else f'in Corp::Folder::"f{n}"'
        action = 'action == Corp::Action::"get /things/{thingId}"'
        return f'@id("p{n}")\npermit (principal, {action}, resource {resource}) {condition};'
    group = n + 1  # g0 is the caller's: its one policy is the relevant one
    action = f'action == Corp::Action::"get /r{group % ROUTES}"'
    return f'@id("p{n}")\npermit (principal in Corp::UserGroup::"g{group}", {action}, resource);'


def policies(layout: str, count: int) -> Iterator[str]:
    yield relevant(layout)
    for n in range(count - 1):
        yield other(layout, n)


def entities() -> list[dict[str, object]]:
    """The record the `resources` layout asks about, in its folder, and a few others."""
    found: list[dict[str, object]] = [
        {"uid": {"type": "Corp::Folder", "id": "mine"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Corp::Thing", "id": "mine"}, "attrs": {"tenant": "t"},
         "parents": [{"type": "Corp::Folder", "id": "mine"}]},
    ]  # fmt: skip
    for n in range(10):
        found.append({"uid": {"type": "Corp::Thing", "id": f"t{n}"}, "attrs": {"tenant": "t"},
                      "parents": [{"type": "Corp::Folder", "id": f"f{n}"}]})  # fmt: skip
    return found


def write(root: Path, layout: str, count: int) -> Layout:
    """The application of ``layout`` with ``count`` policies, under ``root``."""
    folder = root / f"{layout}-{count}"
    policy_dir = folder / "policies"
    policy_dir.mkdir(parents=True)
    texts = list(policies(layout, count))
    for start in range(0, len(texts), POLICIES_PER_FILE):
        chunk = texts[start : start + POLICIES_PER_FILE]
        name = f"p{start // POLICIES_PER_FILE:03d}.cedar"
        (policy_dir / name).write_text("\n".join(chunk) + "\n")
    schema = folder / "app.cedarschema"
    schema.write_text(schema_text())
    store = folder / "entities.json"
    store.write_text(json.dumps(entities()))
    if layout == "groups":
        return Layout(policy_dir, schema, store, "GET", "/r0", "/r0", ("g0",))
    if layout == "resources":
        route = ("GET", "/things/mine", "/things/{thingId}")
        return Layout(policy_dir, schema, store, *route, ("g-none",))
    return Layout(policy_dir, schema, store, "GET", "/things", "/things", ("g-none",))
