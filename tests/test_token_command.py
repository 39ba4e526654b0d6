"""`cedar-authz token USER [--id]` through the installed console script, in a subprocess with
its own state directory: the printed token verifies with the key `serve` uses."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from authorizer.tooling.local.gateway import GatewayOptions, make_app
from authorizer.tooling.local.issuer import LOCAL_CLIENT_ID, LOCAL_ISSUER
from authorizer.tooling.local.keys import HOME_VARIABLE, JWKS_PATH, KEY_FILE, load_signing_key
from authorizer.tooling.local.users import SAMPLE_USERS
from tests.conftest import ROOT

CLI = shutil.which("cedar-authz", path=str(Path(sys.executable).parent)) or "cedar-authz"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "state"))
    return tmp_path / "state"


def token_command(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "CEDAR_"))}
    env[HOME_VARIABLE] = str(home)
    return subprocess.run(
        [CLI, "token", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def verify(home: Path, token: str, **kwargs: Any) -> dict[str, Any]:
    """Verify with the key the server signs with and publishes (loaded from the same file)."""
    key = load_signing_key(home)
    assert jwt.get_unverified_header(token)["kid"] == key.kid
    claims: dict[str, Any] = jwt.decode(
        token, key.private.public_key(), algorithms=["RS256"], issuer=LOCAL_ISSUER, **kwargs
    )
    return claims


def test_prints_an_access_token_signed_with_the_shared_key(home: Path) -> None:
    result = token_command(home, "pat")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # only the token: TOKEN=$(cedar-authz token pat)
    claims = verify(home, token)
    assert claims["token_use"] == "access" and claims["client_id"] == LOCAL_CLIENT_ID
    assert claims["sub"] == claims["username"] == "pat"
    assert claims["cognito:groups"] == ["payment-initiators"]
    assert claims["tenant"] == "acme" and claims["dailyLimit"] == 5000
    assert claims["exp"] - claims["iat"] == 3600
    assert "employee:read" in claims["scope"].split()


def test_id_token(home: Path) -> None:
    result = token_command(home, "hank", "--id")
    assert result.returncode == 0, result.stderr
    claims = verify(home, result.stdout.strip(), audience=LOCAL_CLIENT_ID)
    assert claims["token_use"] == "id" and claims["cognito:username"] == "hank"
    assert claims["cognito:groups"] == ["hr-engineering"]


def test_the_key_is_created_once_private_and_reused(home: Path) -> None:
    first = token_command(home, "alice").stdout.strip()
    second = token_command(home, "alice").stdout.strip()
    assert jwt.get_unverified_header(first)["kid"] == jwt.get_unverified_header(second)["kid"]
    assert (home / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in home.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_unknown_user_exits_1_listing_the_users(home: Path) -> None:
    result = token_command(home, "zed")
    assert result.returncode == 1 and result.stdout == ""
    assert all(user in result.stderr for user in SAMPLE_USERS)
    assert not home.exists()  # nothing written for a refused request


def test_an_unreadable_key_is_reported_without_a_traceback(home: Path) -> None:
    home.mkdir()
    (home / KEY_FILE).write_text("not a key")
    result = token_command(home, "alice")
    assert result.returncode == 1
    assert "delete it to regenerate" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.asyncio
async def test_the_server_accepts_the_commands_tokens(
    home: Path, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> None:
    """`token` and `serve` in different processes agree on key, issuer and claims."""
    token = token_command(home, "alice").stdout.strip()
    client = await aiohttp_client(make_app(GatewayOptions(), home=home, log=io.StringIO()))
    async with client.get(JWKS_PATH) as response:
        kids = [k["kid"] for k in (await response.json())["keys"]]
    assert kids == [jwt.get_unverified_header(token)["kid"]]
    headers = {"Authorization": f"Bearer {token}"}
    async with client.get("/employees/emp-001", headers=headers) as response:
        assert response.status == 200
    async with client.get("/employees/emp-001/salary", headers=headers) as response:
        assert response.status == 403
