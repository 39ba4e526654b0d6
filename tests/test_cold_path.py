"""Cold start does only what it must: the authorizer's import path loads neither boto3 nor the
local extras (aiohttp), and the package import alone loads nothing heavy. Fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
{statement}
print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))
"""


def loaded_after(statement: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_lambda_handler_imports_no_boto3_and_no_aiohttp() -> None:
    modules = loaded_after("import authorizer.handler")
    assert "cedarpy" in modules and "cryptography" in modules  # the probe does see imports
    assert not {"boto3", "botocore", "aiohttp", "moto", "yaml"} & modules


def test_the_lambda_handler_imports_no_pyjwt() -> None:
    """PyJWT brings its JWKS client and cryptography.x509: about 30 ms of a cold start, for
    reading two key types (authorizer.identity.jwk reads them)."""
    assert "jwt" not in loaded_after("import authorizer.handler")


def test_the_package_import_is_free() -> None:
    modules = loaded_after("import authorizer, authorizer.errors")
    assert not {"cedarpy", "jwt", "cryptography", "boto3"} & modules


def test_the_cli_does_not_need_the_local_extra() -> None:
    assert "aiohttp" not in loaded_after("import authorizer.tooling.cli")
