"""One exception tree for the whole package (PyJWT's model), and the one mapping from an error
to what the caller gets (``status_of``), used by the Lambda, the middleware, the local gateway
and the sample backend alike.

How each branch ends:
- ``Unauthorized`` (bad or missing token, malformed event, revoked token): 401; at API Gateway
  ``Exception("Unauthorized")``. Its ``InvalidParameter`` (a parameter given twice or not of
  its declared type) is a 400 where the answer can say so (the backend middleware).
- ``DependencyError`` (JWKS or a table unreachable with no usable answer): 500, never cached.
- ``ConfigError`` (policies, schema or settings unusable): the function refuses to start; 500.
- anything else (a bug): 500, logged with its traceback. Never 401 (that would hide the bug as a
  client error) and never a Deny that a cache could keep.
A valid token that the policies deny is not an error: it is a Deny decision (403).

Errors raised and caught inside one module (``response.MalformedAnswer``, ``uids.UidError``,
``dynamo_store.MalformedItem``, the authoring tools' own) are internal: each is turned into one
of these before it leaves its module.
"""

from __future__ import annotations


class CedarAuthzError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(CedarAuthzError):
    """Configuration, policies, schema or entities are unusable: refuse to start."""


class PolicyError(ConfigError):
    """A policy file does not parse or does not validate against the schema."""


class SchemaError(ConfigError):
    """The schema cannot be read or is not valid Cedar."""


class Unauthorized(CedarAuthzError):
    """The caller is not authenticated: answered with 401.

    ``reason`` is a short stable code for metrics and logs (never the token itself).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class InvalidRequest(Unauthorized):
    """The authorizer event is malformed or carries no usable credentials."""


class InvalidParameter(InvalidRequest):
    """A request parameter a policy reads is given twice or cannot take its declared type:
    decided either way, the decision could be about a value the backend never uses. API Gateway's
    authorizer can only answer 401; the backend middleware answers 400."""


class InvalidToken(Unauthorized):
    """The bearer token failed verification."""


class DependencyError(CedarAuthzError):
    """A dependency (the JWKS endpoint) failed and no cached answer can stand in.

    Must surface as a 500 so that API Gateway does not cache a Deny.
    """


class NotPublished(DependencyError):
    """The endpoint answered 404, 410, 401 or 403: it publishes nothing at that URL to us."""


BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
INTERNAL_ERROR = 500


def status_of(error: BaseException) -> int:
    """The HTTP status a failed authorization answers with: 401 for a caller who is not
    authenticated, 500 for everything else (a dependency, the configuration, a bug)."""
    return UNAUTHORIZED if isinstance(error, Unauthorized) else INTERNAL_ERROR
