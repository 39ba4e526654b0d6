"""Amazon Verified Permissions interop, both ways: the schema `aws verifiedpermissions get-schema`
prints is read as it is (whatever the file is called) and decides like the schema it wraps, and
`cedar-authz export-avp` writes our policies as a cfn-lint-clean CloudFormation template."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cedarpy import policies_to_json_str
from cfnlint.api import lint_all

from authorizer.cedar.policies import load_policies
from authorizer.cedar.schema import cedarschema_to_json, load_schema
from authorizer.errors import SchemaError
from authorizer.sdk.client import Authorizer
from authorizer.tooling.cli import main
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


# --- export-avp --------------------------------------------------------------------------------


def export(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "avp.json"
    code = main(["export-avp", *args, "-o", str(out)])
    return code, json.loads(out.read_text()) if out.exists() else {}


def resources_of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    wanted = f"AWS::VerifiedPermissions::{kind}"
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == wanted]


def test_export_avp_writes_every_sample_policy_as_cedar_stores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, template = export(tmp_path)
    assert code == 0
    (store,) = resources_of(template, "PolicyStore")
    assert store["ValidationSettings"] == {"Mode": "STRICT"}
    assert json.loads(store["Schema"]["CedarJson"]) == load_schema(SAMPLE_SCHEMA).json
    policies = load_policies(ROOT / "policies")
    statements = [p["Definition"]["Static"]["Statement"] for p in resources_of(template, "Policy")]
    assert len(statements) == len(policies.sources)
    # Each statement is the very policy: it parses back to the same Cedar JSON, @id included.
    exported = {json.dumps(next(iter(json.loads(policies_to_json_str(s))["staticPolicies"]
                                     .values())), sort_keys=True) for s in statements}  # fmt: skip
    assert exported == {json.dumps(s.json, sort_keys=True) for s in policies.sources.values()}
    # cfn-lint (make lint's linter for template.yaml) finds no error and no warning (its
    # command line, as make lint runs it, leaves informational rules out too).
    found = lint_all((tmp_path / "avp.json").read_text())
    assert [m for m in found if m.rule.id[0] in "EW"] == []


def test_export_avp_writes_templates_and_their_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    fixtures = ROOT / "tests" / "authoring" / "templates"
    folder = tmp_path / "policies"
    folder.mkdir()
    shutil.copy(fixtures / "policies.cedar", folder)
    code, template = export(tmp_path, "--policies", str(folder), "--links",
                            str(fixtures / "links.json"))  # fmt: skip
    assert code == 0
    (tpl,) = resources_of(template, "PolicyTemplate")
    assert "?principal" in tpl["Statement"] and "?resource" in tpl["Statement"]
    linked = [p["Definition"]["TemplateLinked"] for p in resources_of(template, "Policy")
              if "TemplateLinked" in p["Definition"]]  # fmt: skip
    assert linked == [{
        "PolicyTemplateId": {"Fn::GetAtt": ["TemplateInvoiceViewer", "PolicyTemplateId"]},
        "Principal": {"EntityType": "Corp::User", "EntityId": "auditor-0001"},
        "Resource": {"EntityType": "Corp::Invoice", "EntityId": "inv-001"},
    }]  # fmt: skip


def test_export_avp_writes_nothing_for_policies_that_do_not_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, template = export(tmp_path, "--policies", "tests/authoring/type_error")
    assert code == 3
    assert template == {}


def test_export_avp_finds_a_template_that_shares_its_line(tmp_path: Path) -> None:
    """`validate` passed and `export-avp` said "template 't1' not found": two statements on the
    template's line."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "a.cedar").write_text(
        '@id("p0") permit (principal, action == Corp::Action::"get /employees", resource);\n'
        '@id("t1") permit (principal == ?principal, action, resource == ?resource); '
        '@id("p1") forbid (principal, action, resource) when { false };\n'
    )
    code, template = export(tmp_path, "--policies", str(folder), "--schema", "none")
    assert code == 0
    (tpl,) = resources_of(template, "PolicyTemplate")
    assert tpl["Statement"] == (
        '@id("t1") permit (principal == ?principal, action, resource == ?resource);'
    )
    assert len(resources_of(template, "Policy")) == 2
