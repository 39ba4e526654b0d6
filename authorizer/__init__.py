"""cedar-authz: a Cedar policy decision point for API Gateway and the backends behind it.

Names are loaded on first use (PEP 562), so ``import authorizer.errors`` (the pre-token hook
does) costs nothing: the engine, cedarpy and cryptography load only with ``Authorizer``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authorizer.cedar.engine import Decision
    from authorizer.errors import CedarAuthzError, ConfigError, DependencyError, Unauthorized
    from authorizer.sdk.client import Authorizer

_EXPORTS = {
    "Authorizer": "authorizer.sdk.client",  # the pipeline with the backend API
    "Decision": "authorizer.cedar.engine",
    "CedarAuthzError": "authorizer.errors",
    "ConfigError": "authorizer.errors",
    "DependencyError": "authorizer.errors",
    "Unauthorized": "authorizer.errors",
}
__all__ = [
    "Authorizer",
    "CedarAuthzError",
    "ConfigError",
    "Decision",
    "DependencyError",
    "Unauthorized",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'authorizer' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
