"""Local stand-ins for AWS: API Gateway's authorizer events and a Cognito-like token issuer."""
