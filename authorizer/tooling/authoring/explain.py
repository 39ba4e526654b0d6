"""`cedar-authz explain`: one request through the authorizer, with everything it built on the
way (claims, route, principal and group entities, resource, context) and why it decided."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authorizer.cedar.links import template_of
from authorizer.cedar.uids import uid_text
from authorizer.errors import Unauthorized
from authorizer.tooling.authoring.harness import Harness, HttpCall
from authorizer.tooling.authoring.problems import source_line

Json = dict[str, Any]


@dataclass(frozen=True)
class Explanation:
    decision: str  # Allow, Deny, NoDecision or Unauthorized
    allowed: bool
    request: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    route: Json | None = None
    principal: Json | None = None
    action: Json | None = None
    resource: Json | None = None
    entities: Sequence[Json] = ()
    context: Json | None = None
    determining: Sequence[Json] = ()
    errors: Sequence[str] = ()
    notes: Sequence[str] = ()

    def as_json(self) -> Json:
        return {
            "decision": self.decision, "allowed": self.allowed, "request": self.request,
            "claims": dict(self.claims), "route": self.route, "principal": self.principal,
            "action": self.action, "resource": self.resource, "entities": list(self.entities),
            "context": self.context, "determiningPolicies": list(self.determining),
            "errors": list(self.errors), "notes": list(self.notes),
        }  # fmt: skip


def explain(
    harness: Harness,
    call: HttpCall,
    token: str,
    store: Sequence[Json],
    notes: Sequence[str] = (),
) -> Explanation:
    """Decide ``call`` with ``token`` exactly as the Lambda would, and show the pieces."""
    authorizer = harness.authorizer
    try:
        request, caller, outcome = harness.decide(call, token)
    except Unauthorized as error:
        return Explanation(
            "Unauthorized", False, call.describe(), errors=(str(error),), notes=notes
        )
    claims = dict(caller.token.claims)
    mapping = authorizer.mapping
    built = mapping.principal_entities(claims, authorizer.engine.knows)
    entities: list[Json] = [{**e, "source": "token"} for e in built]
    match = authorizer.routes.match(
        request.method, request.path, request.route, request.path_parameters
    )
    route = context = None
    if match is not None:
        route = {"method": match.route.method, "template": match.route.template,
                 "pathParameters": dict(match.path_parameters)}  # fmt: skip
        model = authorizer.engine.model
        action = match.route.action_uid
        schema_action = model.action(action["type"], action["id"]) if model else None
        context = mapping.context(claims, request, match, harness.clock(), schema_action)
    all_notes = list(notes)
    resource = outcome.resource
    if resource is not None:
        stored = [e for e in store if isinstance(e, dict) and e.get("uid") == dict(resource)]
        entities += [{**e, "source": "entity store"} for e in stored]
        if not stored and resource != mapping.application:
            all_notes.append(f"the resource {uid_text(resource)} is not in the entity store")
    decision = outcome.decision
    return Explanation(
        decision=decision.decision,
        allowed=decision.allowed,
        request=call.describe(),
        claims=claims,
        route=route,
        principal=dict(outcome.principal),
        action=dict(outcome.action) if outcome.action else None,
        resource=dict(resource) if resource else None,
        entities=entities,
        context=context,
        determining=[_policy(harness, p) for p in decision.determining],
        errors=decision.errors,
        notes=all_notes,
    )


def _policy(harness: Harness, policy_id: str) -> Json:
    policies = harness.engine.policies
    source = policies.sources.get(policy_id)
    if source is None:
        return {"id": policy_id, "effect": None, "file": None, "line": None}
    found: Json = {"id": policy_id, "effect": source.json.get("effect"),
                   "file": str(source.file), "line": source_line(policies, source)}  # fmt: skip
    template = template_of(policies, policy_id)
    if template is not None:
        found["template"] = template
    return found


def render(explanation: Explanation) -> str:
    e = explanation
    lines = [f"decision: {e.decision}", f"request: {e.request}"]
    if e.route:
        params = " ".join(f"{k}={v}" for k, v in e.route["pathParameters"].items())
        lines.append(f"route: {e.route['method']} {e.route['template']}  {params}".rstrip())
    elif e.decision != "Unauthorized":
        lines.append("route: none (no action for this method and path)")
    for label, uid in (("principal", e.principal), ("action", e.action), ("resource", e.resource)):
        if uid:
            lines.append(f"{label}: {uid_text(uid)}")
    lines.append("determining policies:" if e.determining else "determining policies: none")
    for p in e.determining:
        where = f"{p['file']}:{p['line']}" if p["file"] else "(unknown)"
        via = f" (linked from template {p['template']})" if p.get("template") else ""
        lines.append(f"  {p['id']}  {p['effect']}  {where}{via}")
    lines.append("errors:" if e.errors else "errors: none")
    lines += [f"  {error}" for error in e.errors]
    if e.entities:
        lines.append("entities:")
        for entity in e.entities:
            parents = ", ".join(uid_text(p) for p in entity.get("parents", []))
            head = f"  {uid_text(entity['uid'])}  ({entity['source']})"
            lines.append(head + (f"  in [{parents}]" if parents else ""))
            if entity.get("attrs"):
                lines.append(f"    {json.dumps(entity['attrs'], sort_keys=True)}")
    if e.context is not None:
        lines.append("context:")
        lines += ["  " + line for line in json.dumps(e.context, indent=2).splitlines()]
    lines += [f"note: {note}" for note in e.notes]
    return "\n".join(lines)
