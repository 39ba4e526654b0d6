"""Amazon Verified Permissions interop: the schema `aws verifiedpermissions get-schema` prints is
read as it is (whatever the file is called), and decides like the schema it wraps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authorizer.cedar.schema import cedarschema_to_json, load_schema
from authorizer.errors import SchemaError
from authorizer.sdk.client import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import ROOT, FakeClock
from tests.helpers import outcome, rest, user_token
from tests.test_sample_app import CASES

SAMPLE_SCHEMA = ROOT / "schemas" / "corp.cedarschema"


def get_schema_output() -> dict[str, object]:
    """The shape of `aws verifiedpermissions get-schema --policy-store-id ...`'s answer."""
    cedar_json = cedarschema_to_json(SAMPLE_SCHEMA.read_text(), source=str(SAMPLE_SCHEMA))
    return {
        "policyStoreId": "PSEXAMPLEabcdefg111111",
        "schema": json.dumps(cedar_json),
        "createdDate": "2024-05-31T18:00:00.000000Z",
        "lastUpdatedDate": "2024-05-31T18:00:00.000000Z",
        "namespaces": ["Corp"],
    }


@pytest.mark.parametrize("name", ["avp-schema.json", "schema.txt", "corp.cedarschema"])
def test_the_get_schema_output_is_read_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(get_schema_output(), indent=2))
    model = load_schema(path)
    assert model.default_namespace == "Corp"
    assert {a.id for a in model.actions} == {a.id for a in load_schema(SAMPLE_SCHEMA).actions}


def test_a_get_schema_output_whose_schema_is_not_json_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "avp.json"
    path.write_text(json.dumps({**get_schema_output(), "schema": "namespace Corp {"}))
    with pytest.raises(SchemaError, match=r"its `schema`.*invalid JSON"):
        load_schema(path)


def test_the_sample_app_decides_alike_with_the_get_schema_output(
    tmp_path: Path, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    path = tmp_path / "avp-schema.json"
    path.write_text(json.dumps(get_schema_output()))
    avp = Authorizer.from_env({**env, "CEDAR_SCHEMA": str(path)}, clock=clock)
    assert avp.engine.model is not None
    for _, user, method, path_, template, kwargs, expected in CASES:
        event = rest(user_token(issuer, user, clock.now), method, path_, template,
                     **{"now_ms": int(clock.now * 1000), **kwargs})  # fmt: skip
        assert outcome(avp, event) == expected, (user, method, path_)
