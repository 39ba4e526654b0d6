"""Cognito pre-token-generation trigger: enriches ID and access tokens from DynamoDB.

Entry point ``pre_token_hook.handler.lambda_handler``. Nothing is imported here, so that the
Lambda's cold start pays only for the modules the handler uses.
"""
