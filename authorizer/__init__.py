"""cedar-authz: a Cedar policy decision point for API Gateway and the backends behind it."""

from __future__ import annotations

from authorizer.engine import Decision
from authorizer.errors import CedarAuthzError, ConfigError, DependencyError, Unauthorized
from authorizer.pdp import Authorizer

__all__ = [
    "Authorizer",
    "CedarAuthzError",
    "ConfigError",
    "Decision",
    "DependencyError",
    "Unauthorized",
]
