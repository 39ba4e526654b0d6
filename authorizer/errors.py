"""One exception tree for the whole package (PyJWT's model).

How each branch ends at API Gateway:
- ``Unauthorized`` (bad or missing token, malformed event): ``Exception("Unauthorized")``, 401.
- ``DependencyError`` (JWKS unreachable with no usable key): an error -> 500, never cached.
- ``ConfigError`` (policies, schema or settings unusable): the function refuses to start.
A valid token that the policies deny is not an error: it is a Deny decision (403).
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


class InvalidToken(Unauthorized):
    """The bearer token failed verification."""


class DependencyError(CedarAuthzError):
    """A dependency (the JWKS endpoint) failed and no cached answer can stand in.

    Must surface as a 500 so that API Gateway does not cache a Deny.
    """
