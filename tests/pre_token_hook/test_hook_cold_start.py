"""Cold start: importing the hook, and running it without a table, loads neither boto3 nor the
authorizer's Cedar engine. Checked in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from pre_token_hook import handler
after_import = sorted(m for m in sys.modules if m.split('.')[0] in {mods} and m not in {allowed})
event = {{"version": "2", "triggerSource": "TokenGeneration_Authentication",
          "request": {{"userAttributes": {{"sub": "s"}}}}, "response": {{}}}}
handler.lambda_handler(event, None)
after_call = sorted(m for m in sys.modules if m.split('.')[0] in {mods} and m not in {allowed})
print(json.dumps([after_import, after_call]))
"""
HEAVY = {"boto3", "botocore", "authorizer", "cedarpy", "jwt", "cryptography"}
# The one error tree and the token limits are shared; the package import is lazy and loads
# nothing else (authorizer.stores is a docstring), and neither module imports more than the
# standard library.
ALLOWED = {
    "authorizer",
    "authorizer.errors",
    "authorizer.stores",
    "authorizer.stores.aws_errors",
    "authorizer.limits",
}


def test_the_hook_loads_nothing_heavy_until_it_needs_dynamodb() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(mods=sorted(HEAVY), allowed=sorted(ALLOWED))],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    after_import, after_call = json.loads(result.stdout.strip().splitlines()[-1])
    assert after_import == []
    assert after_call == []
