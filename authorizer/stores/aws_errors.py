"""botocore failures -> stable reason codes, shared by every DynamoDB reader of the project (the
pre-token hook's attribute source, the entity store). botocore is imported only when a failure
is classified, so importing this module costs nothing."""

from __future__ import annotations

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
    }
)
ACCESS_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


def failure_reason(error: Exception) -> tuple[str, str]:
    """(reason, detail): throttled, table_not_found, access_denied, service_error, timeout,
    unreachable, no_credentials or error; the detail is an error code or class name, never data."""
    from botocore import exceptions as bce  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    if isinstance(error, bce.ClientError):
        code = str(error.response.get("Error", {}).get("Code", "")) or "Unknown"
        if code in THROTTLING_CODES:
            return "throttled", code
        if code == "ResourceNotFoundException":
            return "table_not_found", code
        if code in ACCESS_CODES:
            return "access_denied", code
        return "service_error", code
    if isinstance(error, (bce.ConnectTimeoutError, bce.ReadTimeoutError)):
        return "timeout", type(error).__name__
    if isinstance(error, (bce.EndpointConnectionError, bce.ConnectionError, bce.HTTPClientError)):
        return "unreachable", type(error).__name__
    if isinstance(error, bce.NoCredentialsError):
        return "no_credentials", type(error).__name__
    return "error", type(error).__name__
