"""Tools for people (not in the Lambda package): the `cedar-authz` CLI, the policy-authoring
logic behind it, and the local gateway, issuer and AWS stand-ins."""
