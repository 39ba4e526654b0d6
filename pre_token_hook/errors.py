"""The hook's errors.

How each ends at Cognito: an exception out of the Lambda fails the sign-in
(``UserLambdaValidationException: PreTokenGeneration failed with error <message>``), so messages
are short, stable and never carry attribute values.

They join the project's one tree (``authorizer.errors``), whose import loads nothing else.
"""

from __future__ import annotations

from authorizer import errors

__all__ = ["AttributesUnavailable", "ConfigError", "InvalidTriggerEvent", "PreTokenHookError"]


class PreTokenHookError(errors.CedarAuthzError):
    """Base of every error the hook raises on purpose."""


class ConfigError(PreTokenHookError, errors.ConfigError):
    """The hook's settings are unusable; raised at cold start, naming the variable."""


class InvalidTriggerEvent(PreTokenHookError):
    """Not a pre-token-generation trigger event (not an object, or an unknown version)."""


class AttributesUnavailable(PreTokenHookError):
    """The attribute source could not answer for a user, answered with a malformed item, or
    the user's groups break a token limit (``authorizer.limits``; refused, never cut).

    ``reason`` is a short stable code for logs and metrics: ``throttled``, ``timeout``,
    ``unreachable``, ``table_not_found``, ``access_denied``, ``no_credentials``,
    ``malformed_item``, ``service_error`` or ``error``; for limits ``too_many_groups``,
    ``groups_too_large`` or ``token_too_large``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
