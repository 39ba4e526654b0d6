"""Cedarling (Janssen's Rust Cedar PDP that validates JWTs itself) as a benchmark peer.

``measure(tokens, issuer, jwks, iterations)`` builds Cedarling policy stores in a temp directory,
serves the issuer's OIDC discovery document and JWKS on 127.0.0.1 (Cedarling fetches both at
start-up whenever signature validation is on), and times three calls for the sample app's
"list employees" rule (``GET /employees`` on ``Corp::Application::"Corp"``):

- ``authorize_multi_issuer`` with signature validation on and Cedarling's token cache off
  (``CEDARLING_TOKEN_CACHE_MAX_TTL=0``), a different token each call;
- the same with default settings and one token every call, so its token cache answers;
- ``authorize_unsigned`` with a principal built from the token's claims, against this project's
  own schema and policies unchanged (no JWT work at all).

Cedarling's signed interface has no principal: a token becomes ``context.tokens.<issuer>_<kind>``
and its claims become attributes (when the schema declares them) and ``Set<String>`` tags. The
signed store therefore holds this project's 11 sample rules rewritten in that form, deciding the
same for the sample users. Decisions are checked before timing (an Allow, a Deny for another
action, and a forged signature that must be dropped), and every timed call's decision is checked
after it, so a misconfigured peer cannot look fast by denying everything.

``same_action_calls(...)`` adds Cedarling's side of the same-action rows: the signed store with
N more policies on the action the rows decide, each for a user ``u<i>`` or group ``g<i>`` that no
benchmark caller is (``same_action_policies``), against the sample's rules alone.

Run: ``.venv/bin/python -m bench.cedarling_peer [iterations]``. Needs ``cedarling-python==2.5.20``.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cedarling_python import (
    AuthorizeMultiIssuerRequest,
    BootstrapConfig,
    Cedarling,
    EntityData,
    RequestUnsigned,
    TokenInput,
)

from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.users import split_profile
from bench.timing import Row, measure_together, table

ROOT = Path(__file__).resolve().parent.parent
# The trusted issuer's name: its TrustedIssuer entity's namespace, and tokens land in
# context.tokens.cognito_<kind>.
ISSUER_NAME = "Cognito"
TOKEN_TYPE = "Corp::Access_token"
ACTION = 'Corp::Action::"get /employees"'
DENIED_ACTION = 'Corp::Action::"put /employees/{employeeId}/status"'
APPLICATION = {"cedar_entity_mapping": {"entity_type": "Corp::Application", "id": "Corp"}}
EMPLOYEE = {
    "cedar_entity_mapping": {"entity_type": "Corp::Employee", "id": "emp-001"},
    "tenant": "acme",
    "division": "engineering",
    "group": "engineering",
    "hrGroup": "hr-engineering",
}
# Cognito groups are flat strings in a token; our entity store nests hr-* under hr. The token form
# spells out the groups that are `in Corp::UserGroup::"hr"` there.
HR_GROUPS = ["hr", "hr-engineering", "hr-engineering-payroll", "hr-finance"]
WARMUP = 100

LABEL_NEW = "cedarling signed, new token each call"
LABEL_NEW_USER = "cedarling signed, new user each call"
LABEL_SAME = "cedarling signed, same token (its cache)"
LABEL_UNSIGNED = "cedarling unsigned (authorize_unsigned)"
LABEL_SAMPLE_ONLY = "Cedarling signed, sample policies only: new user each call"


def same_action_label(count: int) -> str:
    return f"Cedarling signed, {count:,} same-action policies: new user each call"


# The sample app's schema in Cedarling's multi-issuer form: no principal entity; the access token
# is an entity whose typed claims are attributes and every claim a Set<String> tag.
SIGNED_SCHEMA = """
namespace Cognito {
  type Url = { "host": String, "path": String, "protocol": String };
  entity TrustedIssuer = { "issuer_entity_id": Url };
}
namespace Corp {
  entity Access_token = {
    "jti": String,
    "exp": Long,
    "iat"?: Long,
    "iss"?: Cognito::TrustedIssuer,
    "sub"?: String,
    "client_id"?: String,
    "token_use"?: String,
    "username"?: String,
    "scope"?: String,
    "tenant"?: String,
    "department"?: String,
    "dailyLimit"?: Long,
  } tags Set<String>;
  type Tokens = { "cognito_access_token"?: Access_token, "total_token_count": Long };
  type HttpRequest = {
    "method": String,
    "path": String,
    "route": String,
    "sourceIp"?: ipaddr,
    "time": datetime,
  };
  type Ctx = { "tokens": Tokens, "request"?: HttpRequest };
  type TransferCtx = { "tokens": Tokens, "request"?: HttpRequest, "amount"?: Long };

  entity Caller;
  entity Application;
  entity Employee = {
    "tenant": String,
    "division": String,
    "group": String,
    "hrGroup"?: String,
    "employmentInfoViewers"?: Set<String>,
  };
  entity Invoice = { "tenant": String };
  entity Account = { "tenant": String, "type": String, "status": String };

  action "get /employees", "get /invoices", "post /reports/export"
    appliesTo { principal: Caller, resource: Application, context: Ctx };
  action "get /employees/{employeeId}", "put /employees/{employeeId}/status",
    "get /employees/{employeeId}/employment-info", view_employmentInfo,
    "get /employees/{employeeId}/salary", view_salary
    appliesTo { principal: Caller, resource: Employee, context: Ctx };
  action "get /invoices/{invoiceId}", "put /invoices/{invoiceId}"
    appliesTo { principal: Caller, resource: Invoice, context: Ctx };
  action "post /accounts/{accountId}/transfers"
    appliesTo { principal: Caller, resource: Account, context: TransferCtx };
}
"""

# policies/*.cedar rewritten for the token entity, same ids. `$T` is the token, `$HR` the hr
# groups. `$SCOPE_READ`: scope is one space-separated string claim, matched as a whole word.
_SIGNED_TEMPLATE = """
@id("employees-list")
permit (principal, action == Corp::Action::"get /employees", resource)
when {
  context.tokens has cognito_access_token && $SCOPE_READ &&
  (($T.hasTag("permissions") && $T.getTag("permissions").contains("employee:read")) ||
   ($T.hasTag("cognito:groups") && $T.getTag("cognito:groups").containsAny($HR)))
};

@id("employees-read")
permit (principal, action == Corp::Action::"get /employees/{employeeId}", resource)
when {
  context.tokens has cognito_access_token && $SCOPE_READ &&
  (($T.hasTag("permissions") && $T.getTag("permissions").contains("employee:read")) ||
   ($T.hasTag("cognito:groups") && $T.getTag("cognito:groups").containsAny($HR)))
};

@id("employment-info-view")
permit (
  principal,
  action in [
    Corp::Action::"get /employees/{employeeId}/employment-info",
    Corp::Action::"view_employmentInfo"
  ],
  resource
)
when {
  context.tokens has cognito_access_token &&
  (($T.hasTag("cognito:groups") && $T.getTag("cognito:groups").contains(resource.group)) ||
   (resource has hrGroup && $T.hasTag("cognito:groups") &&
    $T.getTag("cognito:groups").contains(resource.hrGroup)) ||
   (resource has employmentInfoViewers && $T has sub &&
    resource.employmentInfoViewers.contains($T.sub)))
};

@id("salary-view")
permit (
  principal,
  action in [Corp::Action::"get /employees/{employeeId}/salary", Corp::Action::"view_salary"],
  resource
)
when {
  context.tokens has cognito_access_token && resource has hrGroup &&
  $T.hasTag("cognito:groups") && $T.getTag("cognito:groups").contains(resource.hrGroup)
};

@id("employee-status-admins")
permit (principal, action == Corp::Action::"put /employees/{employeeId}/status", resource)
when {
  context.tokens has cognito_access_token &&
  $T.hasTag("cognito:groups") && $T.getTag("cognito:groups").contains("admins")
};

@id("invoices-view")
permit (
  principal,
  action in [Corp::Action::"get /invoices", Corp::Action::"get /invoices/{invoiceId}"],
  resource
)
when {
  context.tokens has cognito_access_token &&
  $T has department && $T.department == "finance" &&
  (($T.hasTag("permissions") && $T.getTag("permissions").contains("invoices:view")) ||
   ($T.hasTag("roles") && $T.getTag("roles").containsAny(["viewer", "editor", "admin"])))
};

@id("invoices-edit")
permit (principal, action == Corp::Action::"put /invoices/{invoiceId}", resource)
when {
  context.tokens has cognito_access_token &&
  $T has department && $T.department == "finance" &&
  (($T.hasTag("permissions") && $T.getTag("permissions").contains("invoices:edit")) ||
   ($T.hasTag("roles") && $T.getTag("roles").containsAny(["editor", "admin"])))
};

@id("reports-export")
permit (principal, action == Corp::Action::"post /reports/export", resource)
when {
  context.tokens has cognito_access_token &&
  $T has department && $T.department == "finance" &&
  (($T.hasTag("permissions") && $T.getTag("permissions").contains("reports:export")) ||
   ($T.hasTag("roles") && $T.getTag("roles").contains("admin")))
};

@id("reports-export-network-and-hours")
forbid (principal, action == Corp::Action::"post /reports/export", resource)
unless {
  context has request && context.request has sourceIp &&
  context.request.sourceIp.isInRange(ip("10.0.0.0/8")) &&
  context.request.time.toTime() >= duration("9h") &&
  context.request.time.toTime() < duration("17h")
};

@id("tenant-isolation")
forbid (principal, action, resource)
unless {
  resource is Corp::Application ||
  (resource has tenant && context.tokens has cognito_access_token &&
   $T has tenant && $T.tenant == resource.tenant)
};

@id("transfers-initiate")
permit (principal, action == Corp::Action::"post /accounts/{accountId}/transfers", resource)
when {
  context.tokens has cognito_access_token &&
  $T.hasTag("cognito:groups") && $T.getTag("cognito:groups").contains("payment-initiators") &&
  resource.type == "BUSINESS" && resource.status == "ACTIVE" &&
  context has amount && $T has dailyLimit && context.amount < $T.dailyLimit
};
"""
_SCOPE_READ = """$T has scope &&
  ($T.scope == "employee:read" || $T.scope like "employee:read *" ||
   $T.scope like "* employee:read" || $T.scope like "* employee:read *")"""


def _split_policies(text: str) -> dict[str, str]:
    """Policy id -> its text, for text whose every policy starts at a line ``@id("...")``
    (comments before a policy ride along with the previous one)."""
    out: dict[str, str] = {}
    for chunk in re.split(r"^(?=@id\()", text, flags=re.MULTILINE):
        match = re.match(r'@id\("([^"]+)"\)', chunk)
        if match:
            out[match.group(1)] = chunk
    return out


SIGNED_POLICIES = _split_policies(
    _SIGNED_TEMPLATE.replace("$SCOPE_READ", _SCOPE_READ)
    .replace("$T", "context.tokens.cognito_access_token")
    .replace("$HR", json.dumps(HR_GROUPS))
)

_TOKEN = "context.tokens.cognito_access_token"
_FOR_USER = f'{_TOKEN} has sub && {_TOKEN}.sub == "u%d"'
_FOR_GROUP = (
    f'{_TOKEN}.hasTag("cognito:groups") && {_TOKEN}.getTag("cognito:groups").contains("g%d")'
)
_SAME_ACTION = """@id("same-action-%d")
permit (principal, action == Corp::Action::"get /employees", resource)
when { context.tokens has cognito_access_token && %s };
"""


def same_action_policies(count: int) -> dict[str, str]:
    """``count`` policies on GET /employees (the action the rows decide), policy i for user
    ``u<i>`` (odd i) or group ``g<i>`` (even i), as the per-user and per-group policies of a big
    tenant base are. Cedarling's signed interface has no principal to scope them on: "for user
    u<i>" is a condition on the token's ``sub`` attribute, "for group g<i>" one on its
    ``cognito:groups`` tag."""
    return {
        f"same-action-{i}": _SAME_ACTION % (i, (_FOR_USER if i % 2 else _FOR_GROUP) % i)
        for i in range(count)
    }


def same_action_grants(claims: Mapping[str, Any], count: int) -> bool:
    """Whether one of ``same_action_policies(count)`` allows a token with these claims."""

    def numbered(value: object, prefix: str, parity: int) -> bool:
        match = re.fullmatch(prefix + r"(0|[1-9][0-9]*)", str(value))
        index = int(match.group(1)) if match else count
        return index < count and index % 2 == parity

    groups = claims.get("cognito:groups") or []
    return numbered(claims.get("sub"), "u", 1) or any(numbered(g, "g", 0) for g in groups)


def same_action_expected(token: str, count: int) -> bool:
    """The decision on GET /employees for ``token`` by the sample's rules plus
    ``same_action_policies(count)``: our rule "employees-list" or one of the extra policies."""
    claims = _claims(token)
    return _expected(claims) or same_action_grants(claims, count)


# A tiny static server for the discovery document and JWKS, run in a child interpreter on a socket
# bound here: Cedarling's constructor fetches both while holding the GIL, so a server thread in
# this process would never get to answer (its requests time out after 4 retries).
_SERVER = """
import http.server, socket, sys
fd, discovery, jwks = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/.well-known/openid-configuration": discovery, "/jwks.json": jwks}.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=fd)
server.serve_forever()
"""


@contextmanager
def _oidc_server(issuer: str, jwks: Mapping[str, Any]) -> Iterator[str]:
    """Serve ``/.well-known/openid-configuration`` and ``/jwks.json`` on 127.0.0.1; yield the
    discovery URL. The discovery document's ``issuer`` is the tokens' ``iss``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    discovery = {
        "issuer": issuer,
        "jwks_uri": f"{base}/jwks.json",
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "token"],
        "subject_types_supported": ["public"],
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SERVER,
            str(sock.fileno()),
            json.dumps(discovery),
            json.dumps(jwks),
        ],
        pass_fds=(sock.fileno(),),
    )
    try:
        yield f"{base}/.well-known/openid-configuration"
    finally:
        child.terminate()
        child.wait(timeout=10)
        sock.close()


def _write_store(
    root: Path, schema: str, policies: Mapping[str, str], discovery_url: str | None
) -> Path:
    root.mkdir(parents=True)
    (root / "policies").mkdir()
    metadata = {
        "cedar_version": "4.6.0",
        "policy_store": {"id": "c0ffee0123456789", "name": "corp-bench", "version": "1.0.0"},
    }
    (root / "metadata.json").write_text(json.dumps(metadata))
    (root / "schema.cedarschema").write_text(schema)
    for policy_id, text in policies.items():
        (root / "policies" / f"{policy_id}.cedar").write_text(text)
    if discovery_url is not None:
        (root / "trusted-issuers").mkdir()
        trusted = {
            "name": ISSUER_NAME,
            "description": "Cognito user pool (served on loopback for the benchmark)",
            "openid_configuration_endpoint": discovery_url,
            "token_metadata": {
                "access_token": {
                    "entity_type_name": TOKEN_TYPE,
                    "token_id": "jti",
                    "required_claims": ["iss", "exp", "jti"],
                }
            },
        }
        (root / "trusted-issuers" / "cognito.json").write_text(json.dumps(trusted))
    return root


def _cedarling(store: Path, *, signed: bool, token_cache_ttl: int | None = None) -> Cedarling:
    options: dict[str, Any] = {
        "CEDARLING_APPLICATION_NAME": "cedar-authz-bench",
        "CEDARLING_POLICY_STORE_LOCAL_FN": str(store),
        "CEDARLING_JWT_SIG_VALIDATION": "enabled" if signed else "disabled",
        "CEDARLING_JWT_STATUS_VALIDATION": "disabled",
        "CEDARLING_JWT_SIGNATURE_ALGORITHMS_SUPPORTED": ["RS256"],
        "CEDARLING_LOG_TYPE": "off",
    }
    if token_cache_ttl is not None:
        options["CEDARLING_TOKEN_CACHE_MAX_TTL"] = token_cache_ttl
    try:
        return Cedarling(BootstrapConfig(options))
    except ValueError as error:
        raise RuntimeError(f"Cedarling would not start on the store in {store}: {error}") from error


def _claims(token: str) -> dict[str, Any]:
    """The payload, unverified: only to know which decision a token should get."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _expected(claims: Mapping[str, Any], *, groups: bool = True) -> bool:
    """Our rule "employees-list" evaluated in Python: scope ``employee:read`` and the
    ``employee:read`` permission or an hr group (``groups=False``: the permission only)."""
    scope = str(claims.get("scope", "")).split()
    permitted = "employee:read" in (claims.get("permissions") or [])
    in_hr = groups and any(g in HR_GROUPS for g in claims.get("cognito:groups") or [])
    return "employee:read" in scope and (permitted or in_hr)


def _request_context(method: str, route: str) -> dict[str, Any]:
    """What our authorizer puts in context.request (an in-hours call from the corporate net)."""
    return {
        "method": method,
        "path": route,
        "route": route,
        "sourceIp": "10.1.2.3",
        "time": "2026-11-23T10:00:00Z",
    }


def _signed_request(
    token: str, action: str = ACTION, resource: Mapping[str, Any] = APPLICATION
) -> AuthorizeMultiIssuerRequest:
    return AuthorizeMultiIssuerRequest(
        tokens=[TokenInput(TOKEN_TYPE, token)],
        action=action,
        resource=EntityData.from_dict(dict(resource)),
        context={"request": _request_context("GET", "/employees")},
    )


def _forged(token: str) -> str:
    """The same header and claims under another (well-formed) signature."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return ".".join([head, payload, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()])


def _check_signed(
    cedarling: Cedarling,
    tokens: Sequence[str],
    expected: Callable[[Mapping[str, Any]], bool] = _expected,
) -> None:
    """Right decisions before any timing, or RuntimeError: the first tokens get ``expected``'s
    decision for GET /employees (our rule's by default), a non-admin is denied
    PUT /employees/{id}/status, a forged signature is refused."""
    for token in tokens[:3]:
        claims = _claims(token)
        want = expected(claims)
        try:
            result = cedarling.authorize_multi_issuer(_signed_request(token))
        except Exception as error:
            raise RuntimeError(
                f"Cedarling refused a token of the given issuer and JWKS "
                f"(sub={claims.get('sub')!r}, kid/iss/exp?): {type(error).__name__}: {error}"
            ) from error
        if result.dropped_tokens():
            raise RuntimeError(f"Cedarling dropped a valid token: {result.dropped_tokens()!r}")
        if result.is_allowed() != want:
            raise RuntimeError(
                f"Cedarling decided {result.response().decision} for GET /employees, expected "
                f"{'ALLOW' if want else 'DENY'} (sub={claims.get('sub')!r}); errors: "
                f"{[e.error for e in result.response().diagnostics.errors]}"
            )
    allowed = next((t for t in tokens if _expected(_claims(t))), None)
    if allowed is None:
        raise RuntimeError("no token is allowed GET /employees: an all-Deny run measures nothing")
    if "admins" not in (_claims(allowed).get("cognito:groups") or []):
        result = cedarling.authorize_multi_issuer(_signed_request(allowed, DENIED_ACTION, EMPLOYEE))
        if result.is_allowed():
            raise RuntimeError("Cedarling allowed PUT /employees/{id}/status to a non-admin")
    # Refused means dropped (Deny), or the whole call refused when no token is left:
    # "MultiIssuerValidationError: Could not validate tokens."
    try:
        forged = cedarling.authorize_multi_issuer(_signed_request(_forged(allowed)))
    except Exception as error:
        if "validate tokens" not in str(error):
            raise
    else:
        if forged.is_allowed() or not forged.dropped_tokens():
            raise RuntimeError("Cedarling accepted a forged signature: validation is off")


def _checked(
    call: Callable[[int], bool], expected: Callable[[int], bool], label: str
) -> Callable[[int], bool]:
    """``call``, raising RuntimeError the moment a decision is not ``expected(i)``: a peer that
    denies everything cannot look fast."""

    def checked(i: int) -> bool:
        allowed = call(i)
        if allowed != expected(i):
            raise RuntimeError(f"{label}: call {i} decided {allowed}, expected {expected(i)}")
        return allowed

    return checked


def _our_policies() -> dict[str, str]:
    """policies/*.cedar, one policy each: Cedarling wants one ``@id``'d policy per file."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "policies").glob("*.cedar")):
        out.update(_split_policies(path.read_text()))
    return out


def _principal(claims: Mapping[str, Any], *, permissions: bool = True) -> EntityData:
    """A Corp::User with the attributes our authorizer reads from the token. Cognito groups are
    left out: EntityData takes attributes only, so the principal has no UserGroup parents."""
    attrs: dict[str, Any] = {
        "cedar_entity_mapping": {"entity_type": "Corp::User", "id": str(claims["sub"])}
    }
    for name in ("tenant", "department", "permissions", "roles", "dailyLimit", "email"):
        if name in claims and (permissions or name != "permissions"):
            attrs[name] = claims[name]
    return EntityData.from_dict(attrs)


def _signed_call() -> Callable[[Cedarling, str], bool]:
    """A timed call: GET /employees on one token, the resource and context built once."""
    resource = EntityData.from_dict(dict(APPLICATION))
    context = {"request": _request_context("GET", "/employees")}

    def call(cedarling: Cedarling, token: str) -> bool:
        request = AuthorizeMultiIssuerRequest(
            tokens=[TokenInput(TOKEN_TYPE, token)],
            action=ACTION,
            resource=resource,
            context=context,
        )
        return bool(cedarling.authorize_multi_issuer(request).is_allowed())

    return call


@contextmanager
def signed_calls(
    tokens: list[str], issuer: str, jwks: Mapping[str, Any], new_users: list[str] | None = None
) -> Iterator[dict[str, Callable[[int], bool]]]:
    """Checked calls by label, while the OIDC endpoint and the Cedarling instances live."""
    expected = [_expected(_claims(t)) for t in tokens]
    n = len(tokens)
    call = _signed_call()

    with (
        tempfile.TemporaryDirectory(prefix="cedarling-bench-") as tmp,
        _oidc_server(issuer, jwks) as discovery_url,
    ):
        store = _write_store(Path(tmp) / "signed", SIGNED_SCHEMA, SIGNED_POLICIES, discovery_url)
        # Token cache off (max TTL 0): every call decodes, verifies and builds the token entity.
        # Each call gets a token of its own (i indexes `tokens`).
        uncached = _cedarling(store, signed=True, token_cache_ttl=0)
        _check_signed(uncached, tokens)
        # Default settings (token cache on, 5 s max TTL): the same token every call.
        cached = _cedarling(store, signed=True)
        _check_signed(cached, tokens)
        calls = {
            LABEL_NEW: _checked(
                lambda i: call(uncached, tokens[i % n]), lambda i: expected[i % n], LABEL_NEW
            ),
            LABEL_SAME: _checked(
                lambda _: call(cached, tokens[0]), lambda _: expected[0], LABEL_SAME
            ),
        }
        instances = [uncached, cached]
        if new_users:  # as LABEL_NEW, each token of a user not seen before
            fresh = _cedarling(store, signed=True, token_cache_ttl=0)
            _check_signed(fresh, new_users)
            wanted = [_expected(_claims(t)) for t in new_users]
            m = len(new_users)
            calls[LABEL_NEW_USER] = _checked(
                lambda i: call(fresh, new_users[i % m]), lambda i: wanted[i % m], LABEL_NEW_USER
            )
            instances.append(fresh)
        try:
            yield calls
        finally:
            for instance in instances:
                instance.shut_down()


def _rotating(
    call: Callable[[Cedarling, str], bool],
    cedarling: Cedarling,
    tokens: Sequence[str],
    expected: Callable[[Mapping[str, Any]], bool],
    label: str,
) -> Callable[[int], bool]:
    """Call i decides ``tokens[i % len(tokens)]``, checked against ``expected``'s decision."""
    wanted = [expected(_claims(t)) for t in tokens]
    n = len(tokens)
    return _checked(lambda i: call(cedarling, tokens[i % n]), lambda i: wanted[i % n], label)


@contextmanager
def same_action_calls(
    new_users: Sequence[str],
    issuer: str,
    jwks: Mapping[str, Any],
    count: int,
    probes: Sequence[str] = (),
) -> Iterator[dict[str, Callable[[int], bool]]]:
    """Cedarling signed, token cache off, a new user's token each call (``new_users[i]``), on
    two stores: the sample's rules alone (``LABEL_SAMPLE_ONLY``) and those plus
    ``same_action_policies(count)`` (``same_action_label(count)``). Before timing each instance
    decides ``new_users``' first tokens, another action, a forged signature and every one of
    ``probes`` (tokens of users the extra policies are for, or are not) as the rules say; every
    timed call's decision is checked."""
    call = _signed_call()
    with (
        tempfile.TemporaryDirectory(prefix="cedarling-bench-") as tmp,
        _oidc_server(issuer, jwks) as discovery_url,
    ):
        instances: list[Cedarling] = []
        calls: dict[str, Callable[[int], bool]] = {}
        try:
            for label, extra in [(LABEL_SAMPLE_ONLY, 0), (same_action_label(count), count)]:
                policies = {**SIGNED_POLICIES, **same_action_policies(extra)}
                folder = Path(tmp) / f"signed-{extra}"
                store = _write_store(folder, SIGNED_SCHEMA, policies, discovery_url)
                cedarling = _cedarling(store, signed=True, token_cache_ttl=0)
                instances.append(cedarling)

                def expected(claims: Mapping[str, Any], extra: int = extra) -> bool:
                    return _expected(claims) or same_action_grants(claims, extra)

                _check_signed(cedarling, new_users, expected)
                for probe in probes:
                    claims = _claims(probe)
                    if call(cedarling, probe) != expected(claims):
                        raise RuntimeError(
                            f"{label}: decided {not expected(claims)} for sub={claims['sub']!r} "
                            f"groups={claims.get('cognito:groups')!r}, expected {expected(claims)}"
                        )
                calls[label] = _rotating(call, cedarling, new_users, expected, label)
            yield calls
        finally:
            for instance in instances:
                instance.shut_down()


@contextmanager
def unsigned_calls(tokens: list[str]) -> Iterator[dict[str, Callable[[int], bool]]]:
    """authorize_unsigned against this project's own schema and 11 policies, unchanged."""
    claims = next((_claims(t) for t in tokens if _expected(_claims(t), groups=False)), None)
    if claims is None:
        claims = _claims(tokens[0])
    want = _expected(claims, groups=False)
    resource = EntityData.from_dict(dict(APPLICATION))
    context: dict[str, Any] = {
        "token": {
            "scope": str(claims.get("scope", "")).split(),
            **{k: claims[k] for k in ("client_id", "token_use", "username") if k in claims},
        },
        "request": _request_context("GET", "/employees"),
    }
    with tempfile.TemporaryDirectory(prefix="cedarling-bench-") as tmp:
        schema = (ROOT / "schemas" / "corp.cedarschema").read_text()
        store = _write_store(Path(tmp) / "unsigned", schema, _our_policies(), None)
        cedarling = _cedarling(store, signed=False)

        def call(principal: EntityData) -> bool:
            request = RequestUnsigned(
                action=ACTION, resource=resource, context=context, principal=principal
            )
            return bool(cedarling.authorize_unsigned(request).is_allowed())

        principal = _principal(claims)
        if call(principal) != want:
            raise RuntimeError(
                f"authorize_unsigned decided {'DENY' if want else 'ALLOW'} for GET /employees, "
                f"expected {'ALLOW' if want else 'DENY'} (sub={claims.get('sub')!r})"
            )
        if call(_principal(claims, permissions=False)):
            raise RuntimeError("authorize_unsigned allowed GET /employees without the permission")
        try:
            yield {
                LABEL_UNSIGNED: _checked(lambda _: call(principal), lambda _: want, LABEL_UNSIGNED)
            }
        finally:
            cedarling.shut_down()


def measure(
    tokens: list[str],
    issuer: str,
    jwks: dict[str, Any],
    iterations: int,
    new_users: list[str] | None = None,
) -> list[Row]:
    """Cedarling deciding GET /employees: signed with its token cache off and a new token each
    call (of one user; with ``new_users`` also of a new user each call), signed with its cache
    on and one token, and authorize_unsigned with a principal. Raises RuntimeError on a wrong
    decision."""
    if not tokens:
        raise ValueError("measure needs at least one token")
    with signed_calls(tokens, issuer, jwks, new_users) as signed, unsigned_calls(tokens) as bare:
        return measure_together({**signed, **bare}, iterations, warmup=WARMUP)


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    issuer = LocalIssuer(
        issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_BENCH",
        client_id="benchclient0000000000000001",
        keys=[SigningKey.rsa(kid="bench-rsa-1")],
    )
    groups, extra = split_profile("alice")
    tokens = [
        issuer.sign(issuer.claims("alice", groups=groups, extra=extra))
        for _ in range(iterations + WARMUP)
    ]
    rows = measure(tokens, issuer.issuer, issuer.jwks(), iterations)
    print(f"Cedarling (cedarling-python 2.5.20), GET /employees, {iterations} iterations")
    print(table(rows))


if __name__ == "__main__":
    main()
