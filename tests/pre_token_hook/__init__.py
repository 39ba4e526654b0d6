"""Tests of the Cognito pre-token-generation hook."""
