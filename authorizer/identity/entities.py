"""Verified claims + request -> Cedar principal, parents, resource and context (pure functions).

AVP-compatible mapping (docs/architecture.md, The entity mapping): principal
``<NS>::User::"<prefix>|<sub>"``, groups as parents ``<NS>::UserGroup::"<prefix>|<group>"``, the
token's claims in ``context.token``, the non-registered claims as principal attributes. UIDs are
always dicts: a quote in ``sub`` is data, never syntax. Where a schema is present it directs every
value's type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from authorizer.cedar.analysis import REQUEST_QUERY, REQUEST_SOURCE_IP
from authorizer.cedar.coerce import (
    DROPPED,
    claims_record,
    datetime_value,
    given_record,
    ip_value,
    misfit,
    to_cedar,
)
from authorizer.cedar.schema import ActionDef, CedarType, RecordType, SchemaModel
from authorizer.errors import ConfigError, InvalidParameter, InvalidRequest, InvalidToken
from authorizer.gateway.events import Request
from authorizer.gateway.routes import RouteMatch
from authorizer.limits import MAX_GROUPS
from authorizer.records import NamedTuple

logger = logging.getLogger(__name__)

# Registered JWT claims and Cognito's bookkeeping: in context.token, never principal attributes.
REGISTERED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "token_use", "auth_time", "origin_jti",
     "event_id", "at_hash", "nonce", "version"}
)  # fmt: skip

# The registered claims that differ between two tokens of one sign-in (a refresh): times and ids.
PER_TOKEN_CLAIMS = frozenset({"exp", "iat", "nbf", "jti", "origin_jti", "auth_time", "event_id"})


def per_token_claims(schema: SchemaModel | None) -> frozenset[str]:
    """The per-token claims that nothing made from the claims holds: never a principal
    attribute (``REGISTERED_CLAIMS``), and in ``context.token`` only where an action's token
    type declares them (or admits any attribute). Two tokens whose other claims are equal make
    the same entities and token records. Without a schema the record holds every claim: none."""
    if schema is None:
        return frozenset()
    kept: set[str] = set()
    for action in schema.actions:
        declared = action.context.attributes.get("token")
        if declared is None:
            continue
        kind = declared.type
        if not isinstance(kind, RecordType) or kind.additional_attributes:
            return frozenset()
        kept.update(kind.attributes)
    return PER_TOKEN_CLAIMS - kept


class EntityMapping(NamedTuple):
    """What cold start decides once: type names, id prefix, where groups come from."""

    namespace: str
    prefix: str
    groups_claim: str
    schema: SchemaModel | None = None

    def qualified(self, name: str) -> str:
        return f"{self.namespace}::{name}" if self.namespace else name

    @property
    def user_type(self) -> str:
        return self.qualified("User")

    @property
    def group_type(self) -> str:
        return self.qualified("UserGroup")

    @property
    def action_type(self) -> str:
        return self.qualified("Action")

    @property
    def application(self) -> dict[str, str]:
        return {"type": self.qualified("Application"), "id": self.namespace or "Application"}

    def entity_id(self, value: str) -> str:
        return f"{self.prefix}|{value}" if self.prefix else value

    def principal_uid(self, claims: Mapping[str, Any]) -> dict[str, str]:
        return {"type": self.user_type, "id": self.entity_id(str(claims["sub"]))}

    def groups(self, claims: Mapping[str, Any]) -> list[str]:
        """The caller's groups (``claim_at`` the groups claim), all of them or none: a list over
        ``MAX_GROUPS`` (or holding a member that is not a name) is refused, never cut, since the
        group left out could be the one a ``forbid`` names."""
        value = claim_at(claims, self.groups_claim)
        if value is None:
            if _groups_elsewhere(claims, self.groups_claim):
                raise InvalidToken(
                    "groups_elsewhere",
                    f"the token says its {self.groups_claim} are elsewhere (a group overage)",
                )
            return []
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or not all(isinstance(g, str) and g for g in value):
            raise InvalidToken("bad_groups", f"{self.groups_claim} is not a list of group names")
        names = list(dict.fromkeys(value))
        if len(names) > MAX_GROUPS:
            raise InvalidToken(
                "too_many_groups", f"{len(names)} groups, more than the limit of {MAX_GROUPS}"
            )
        return names

    def not_in_enum(self, uid: Mapping[str, str]) -> bool:
        """Whether ``uid`` is of an enumerated entity type that has no such id."""
        if self.schema is None or not self.schema.enumerated:
            return False
        choices = self.schema.enumerated.get(uid["type"])
        return choices is not None and uid["id"] not in choices

    def principal_entities(
        self, claims: Mapping[str, Any], stored: Callable[[Mapping[str, str]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """The principal (attributes from the claims) and one entity per group. A claim the
        schema requires that the token lacks is refused, unless ``stored(uid)`` says the entity
        store holds the user: then the store's version is the one Cedar gets."""
        group_uids = [
            {"type": self.group_type, "id": self.entity_id(g)} for g in self.groups(claims)
        ]
        for group in group_uids:
            if self.not_in_enum(group):  # refused, never dropped (a forbid may name it)
                raise InvalidToken(
                    "bad_groups", f"group {group['id'][:64]!r} is no {self.group_type}"
                )
        attributes = {k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}
        user = self.schema.entity_type(self.user_type) if self.schema else None
        uid = self.principal_uid(claims)
        if self.not_in_enum(uid):  # an enumerated User type lists its users: no other exists
            raise InvalidToken("unknown_principal", f"{uid['id'][:64]!r} is no {self.user_type}")
        try:
            attrs = claims_record(attributes, user.attributes if user else None, "claim")
        except InvalidToken as refused:
            if refused.reason != "missing_claim" or stored is None or not stored(uid):
                raise
            attrs = {}  # never read: the stored user is used
        principal = {"uid": uid, "attrs": attrs, "parents": group_uids}
        return [principal, *({"uid": uid, "attrs": {}, "parents": []} for uid in group_uids)]

    def resource_uid(self, match: RouteMatch) -> dict[str, str]:
        """A typed resource when the action applies to exactly one non-Application type and the
        route carries its id: the path parameter named after the type (``folderId``,
        ``folder_id`` or ``folder`` for ``Folder``), else the last one; otherwise the
        Application (which the caller checks against the action's declared types)."""
        typed = [t for t in match.route.resource_types or () if t != self.application["type"]]
        parameters = match.route.parameters
        if len(typed) == 1 and parameters:
            name = id_parameter(typed[0], parameters)
            if name in match.path_parameters:
                return {"type": typed[0], "id": match.path_parameters[name]}
        return self.application

    def token_shape(self, action: ActionDef | None) -> object:
        """What ``token_record`` depends on besides the claims: actions declaring the same token
        type share one record (callers cache records by it). The type's identity: the schema
        model lives as long as the mapping, every action naming a common type holds the same
        object, and hashing a record type by value would cost more than the record saves."""
        if action is None:
            return None
        declared = action.context.attributes.get("token")
        return id(declared.type) if declared else DROPPED

    def token_record(self, claims: Mapping[str, Any], action: ActionDef | None) -> Any:
        """``context.token``: the claims shaped to the action's declared token type (or DROPPED
        when it declares none). Depends only on the token and the action: callers cache it."""
        token = dict(claims)
        if isinstance(token.get("scope"), str):  # OAuth's space-separated scope becomes a set
            token["scope"] = token["scope"].split()
        if action is None:
            # No schema: every claim, in its natural Cedar form. The registered ones (`exp`,
            # `iat` may be fractional NumericDates, which Cedar cannot hold) are left out when
            # they have none; any other claim without one is refused, as a principal's is.
            registered = {k: v for k, v in token.items() if k in REGISTERED_CLAIMS}
            shaped = claims_record(
                {k: v for k, v in token.items() if k not in REGISTERED_CLAIMS}, None, "token claim"
            )
            shaped.update(to_cedar(registered, None))
            return shaped
        declared = action.context.attributes.get("token")
        return claims_record(token, declared.type, "token claim") if declared else DROPPED

    def context(
        self,
        claims: Mapping[str, Any],
        request: Request,
        match: RouteMatch,
        now: float,
        action: ActionDef | None,
        token: Any = None,
        only: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """``token`` and ``request``, plus any other attribute the action's context declares,
        taken from a path or query parameter of the same name. Shaped to the declared type.
        ``token`` is ``token_record(claims, action)`` when the caller has it already; ``only``
        names the attributes wanted (the ones the policies read), None for all."""
        wanted = (lambda name: True) if only is None else only.__contains__
        if token is None and wanted("token"):
            token = self.token_record(claims, action)
        raw: dict[str, Any] = {}
        query = wanted(REQUEST_QUERY)
        if wanted("request"):
            if only is None and action is not None:
                # The context whole (validated, or read whole): the query only where the action
                # declares it, as shaping keeps it; a parameter given twice refuses nothing else
                # (it refused a token-level route uncached and was skipped cached).
                query = _declares_query(action)
            raw["request"] = request_record(request, match, now, query)
        if action is None:
            return {**raw, **({"token": token} if wanted("token") else {})}
        declared: RecordType = action.context
        given: list[str] = []  # the attributes the caller's request gave
        for name in declared.attributes:
            if name in raw or name == "token" or not wanted(name):
                continue
            value = match.path_parameters.get(name) or _only(request.query, name)
            if value is not None:
                raw[name] = value
                given.append(name)
        for name, attribute in declared.attributes.items():
            if attribute.required and name not in raw and name != "token" and wanted(name):
                # Left out, `context has amount` is false: a forbid guarded by it would not hold
                # where Cedar, given the schema, refuses the request.
                missing = f"parameter {name[:64]!r} is required by the schema and missing"
                raise InvalidParameter("bad_parameter", missing)
        if "request" in raw and "request" in declared.attributes:
            # Checked as far as it is given: the query where it is (the same `query`).
            request_type = _request_type(
                declared.attributes["request"].type, query, wanted(REQUEST_SOURCE_IP)
            )
            _check_request(raw["request"], request_type)
        shaped = given_record(raw, declared, given, "parameter")
        if wanted("token") and token is not DROPPED:
            shaped["token"] = token
        return shaped


def _declares_query(action: ActionDef) -> bool:
    """Whether the action's declared ``context.request`` may hold the query."""
    declared = action.context.attributes.get("request")
    if declared is None:
        return False
    request = declared.type
    if not isinstance(request, RecordType):
        return True
    return "query" in request.attributes or request.additional_attributes


def check_request_type(action: ActionDef) -> None:
    """At cold start: the action's declared ``context.request``, if any, fits what the
    authorizer gives (``request_record``); else no request on its route could be decided."""
    declared = action.context.attributes.get("request")
    if declared is None:
        return
    wanted = declared.type
    if isinstance(wanted, RecordType):  # the caller's parts are checked per request
        callers = ("query", "pathParameters")
        kept = {k: v for k, v in wanted.attributes.items() if k not in callers}
        wanted = RecordType(kept, wanted.additional_attributes)
    ours = {"method": "GET", "path": "/", "route": "/", "time": datetime_value(0),
            "sourceIp": ip_value("192.0.2.1")}  # fmt: skip
    problem = misfit(ours, "request", wanted)
    if problem is not None:
        raise ConfigError(
            f"action {action.id!r}: " + problem[1]("context attribute") + ", but the authorizer "
            "gives method, path and route as String, time as datetime, sourceIp as ipaddr, "
            "pathParameters and query as records"
        )


# The declared request type less what no policy reads, by (the type's id, query read, source
# read); the type itself is kept beside it, so a reused id is never taken for it.
_READ_REQUEST_TYPES: dict[tuple[int, bool, bool], tuple[CedarType, CedarType]] = {}


def _request_type(declared: CedarType, query: bool, source: bool) -> CedarType:
    """The part of ``context.request``'s declared type the policies may read: the query and the
    source address are left out where none reads them (the query is then not given, and a TOKEN
    event has no source address: a required one nothing reads refused nothing before)."""
    if (query and source) or not isinstance(declared, RecordType):
        return declared
    key = (id(declared), query, source)
    found = _READ_REQUEST_TYPES.get(key)
    if found is None or found[0] is not declared:
        unread = {name for name, read in (("query", query), ("sourceIp", source)) if not read}
        kept = {k: v for k, v in declared.attributes.items() if k not in unread}
        if len(_READ_REQUEST_TYPES) >= 1024:
            _READ_REQUEST_TYPES.clear()
        found = _READ_REQUEST_TYPES[key] = (
            declared,
            RecordType(kept, declared.additional_attributes),
        )
    return found[1]


def _check_request(value: Mapping[str, Any], declared: CedarType) -> None:
    """``context.request`` takes its declared type whole (as far as policies read it). Its query
    and path parameters are the caller's: one that cannot take its type (`page=abc` for a Long)
    is refused (401), never dropped (a forbid on `page > 10` guarded by `has` would not hold). A
    source address the schema requires and policies read, which the event does not carry, is
    the event's fault (401). The rest is ours, checked at start (``check_request_type``)."""
    problem = misfit(value, "request", declared)
    if problem is None:
        return
    path, says = problem
    if len(path) > 1 and path[1] in ("query", "pathParameters"):
        raise InvalidParameter("bad_parameter", says("parameter"))
    if path[1:] == ("sourceIp",) and "sourceIp" not in value:
        raise InvalidRequest(
            "malformed_event", "the event carries no source address: " + says("context attribute")
        )
    raise ConfigError(
        says("context attribute")
        + " in what the authorizer gives (docs/architecture.md, Entity mapping): "
        "the action's context type does not fit it"
    )


def id_parameter(resource_type: str, parameters: tuple[str, ...]) -> str:
    """The path parameter carrying a ``resource_type``'s id: the one named after the type (on
    ``/folders/{folderId}/files/{fileName}`` a Folder is ``folderId``, not the file's name),
    else the last."""
    base = resource_type.rsplit("::", 1)[-1].lower()
    named = [p for p in parameters if p.lower() in (f"{base}id", f"{base}_id", base)]
    return named[0] if len(named) == 1 else parameters[-1]


def claim_at(claims: Mapping[str, Any], name: str) -> Any:
    """The claim ``name``, or None when the token has none. A dotted name is a path into nested
    claims (Keycloak's ``realm_access.roles``) whose keys may hold dots themselves (Auth0's
    namespaced ``https://example.com/roles`` at the top, Keycloak's client roles under
    ``resource_access.com.example.app.roles``): every way of reading it is tried. A token in
    which two readings find a value is refused, as is a path through a value that is not an
    object: either way the groups are not clear."""
    if "." not in name:
        return claims.get(name)
    found = _readings(claims, name.split("."), name)
    if len(found) > 1:
        raise InvalidToken("bad_groups", f"{name} names more than one claim in this token")
    return found[0] if found else None


def _readings(node: Mapping[str, Any], steps: list[str], name: str) -> list[Any]:
    """The non-null values ``steps`` reach from ``node``, each run of steps read as one key
    (joined by dots) or as a path. A claim path is a setting of a few steps: the readings are
    2**(steps - 1) at most."""
    found: list[Any] = []
    for end in range(1, len(steps) + 1):
        value = node.get(".".join(steps[:end]))
        if value is None:
            continue
        if end == len(steps):
            found.append(value)
        elif isinstance(value, Mapping):
            found.extend(_readings(value, steps[end:], name))
        else:
            raise InvalidToken("bad_groups", f"{name} passes through a value that is not an object")
    return found


def _groups_elsewhere(claims: Mapping[str, Any], groups_claim: str) -> bool:
    """An issuer whose user has more groups than a token holds leaves the groups claim out and
    says so: OIDC's distributed claims (``_claim_names`` naming it; Entra ID past 200 groups)
    or Entra ID's ``hasgroups``. Read as no groups, a ``forbid`` on one of them would not hold."""
    names = claims.get("_claim_names")
    top = groups_claim.split(".", 1)[0]
    if isinstance(names, Mapping) and (groups_claim in names or top in names):
        return True
    return groups_claim == "groups" and claims.get("hasgroups") is True


def request_record(
    request: Request, match: RouteMatch, now: float, query: bool = True
) -> dict[str, Any]:
    """``context.request``. ``query``: whether a policy may read its query; if none may, it is
    left empty, and a parameter given twice (refused where the query is read) decides nothing."""
    seconds = request.time_epoch_ms / 1000 if request.time_epoch_ms else now
    out: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "route": match.route.template,
        "pathParameters": dict(match.path_parameters),
        "query": {k: _only(request.query, k) for k, v in request.query.items() if v}
        if query
        else {},
        "time": datetime_value(seconds),
    }
    if request.source_ip:
        out["sourceIp"] = ip_value(request.source_ip)
    return out


def _only(query: Mapping[str, tuple[str, ...]], name: str) -> str | None:
    """The parameter's one value. Given twice it is refused: REST APIs hand the backend the last
    value, HTTP APIs both joined by a comma, so a decision on either could be about an amount
    the backend never uses."""
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameter("ambiguous_parameter", f"query parameter {name[:64]!r} given twice")
    return values[0]
