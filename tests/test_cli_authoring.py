"""The policy-authoring commands (`validate`, `format`, `test`, `explain`, `diff`) through the
installed console script in a subprocess, as an author types them: the sample application's
complete test files pass, and every broken input gets a clear message and the Cedar CLI's exit
code (0 ok, 1 failure, 2 deny, 3 validation failure), never a traceback."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from authorizer.cedar.links import link_templates, parse_links
from authorizer.cedar.policies import load_policies
from authorizer.cedar.uids import UidError, parse_uid
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import split_profile
from tests.conftest import ROOT
from tests.test_sample_app import CASES

CLI = shutil.which("cedar-authz", path=str(Path(sys.executable).parent)) or "cedar-authz"
# Paths as an author types them, relative to the repository (the commands run there).
FIXTURES = Path("tests/authoring")
HTTP_TESTS = Path("tests/sample_app.tests.json")
CEDAR_TESTS = Path("tests/sample_app.cedartests.json")
ENTITIES = ["--entities", "entities/corp.json"]
TEMPLATES = FIXTURES / "templates"
HAS_YAML = importlib.util.find_spec("yaml") is not None
TEST_LINE = re.compile(r"^  test (.+?) \.\.\. (ok|fail|error)(: .*)?$")


def cli(
    *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "CEDAR_"))}
    result = subprocess.run(
        [CLI, *map(str, args)],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def statuses(output: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for line in output.splitlines() if (m := TEST_LINE.match(line))}


# --- the sample application's test files -----------------------------------------------------


def test_the_sample_application_passes_its_test_files() -> None:
    result = cli("test", HTTP_TESTS, CEDAR_TESTS, *ENTITIES, "--coverage")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = statuses(result.stdout)
    http = json.loads((ROOT / HTTP_TESTS).read_text())["tests"]
    cedar = json.loads((ROOT / CEDAR_TESTS).read_text())
    assert len(lines) == len(http) + len(cedar)
    assert set(lines.values()) == {"ok"}
    assert f"results: {len(lines)} passed, 0 failed" in result.stdout
    assert "coverage: 11 of 11 policies" in result.stdout
    assert "not exercised" not in result.stdout


def test_the_http_test_file_covers_every_scenario_of_the_sample_app() -> None:
    tests = {t["name"]: t for t in json.loads((ROOT / HTTP_TESTS).read_text())["tests"]}
    for name, user, method, path, _template, kwargs, expected in CASES:
        test = tests[name]
        assert (test["user"], test["method"], test["path"]) == (user, method, path), name
        assert test["decision"] == expected.lower(), name
        assert test.get("query") == kwargs.get("query"), name
        assert test.get("sourceIp") == kwargs.get("source_ip"), name
        assert ("time" in test) == ("now_ms" in kwargs), name


def test_the_run_tests_file_follows_the_cedar_cli_format() -> None:
    cases = json.loads((ROOT / CEDAR_TESTS).read_text())
    assert len(cases) >= 5
    assert {c["decision"] for c in cases} == {"allow", "deny"}
    for case in cases:
        assert {"request", "entities", "decision", "reason", "num_errors"} <= set(case)
        assert {"principal", "action", "resource", "context"} <= set(case["request"])


def test_a_wrong_expectation_fails_the_run(tmp_path: Path) -> None:
    tests = tmp_path / "wrong.tests.json"
    tests.write_text(json.dumps({"tests": [
        {"name": "should-be-allowed", "user": "alice", "method": "GET", "path": "/employees",
         "decision": "deny"},
        {"name": "wrong-reason", "user": "alice", "method": "GET", "path": "/employees",
         "decision": "allow", "reason": ["salary-view"]},
        {"name": "right", "user": "fiona", "method": "GET", "path": "/employees",
         "decision": "deny"},
    ]}))  # fmt: skip
    result = cli("test", tests, *ENTITIES)
    assert result.returncode == 1
    assert "test should-be-allowed ... fail: expected deny, got allow (employees-list)" in (
        result.stdout
    )
    assert (
        "test wrong-reason ... fail: missing reason(s): `salary-view` "
        "(the determining policies: `employees-list`)"
    ) in result.stdout
    assert "results: 1 passed, 2 failed" in result.stdout


def test_coverage_names_the_policies_no_test_exercised() -> None:
    result = cli("test", CEDAR_TESTS, "--coverage")
    assert result.returncode == 0
    assert "not exercised: employee-status-admins (permit) policies/employees.cedar:" in (
        result.stdout
    )


@pytest.mark.skipif(not HAS_YAML, reason="PyYAML is not installed")
def test_yaml_test_files() -> None:
    result = cli("test", FIXTURES / "sample.tests.yaml", *ENTITIES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "results: 3 passed, 0 failed" in result.stdout


# --- broken test files ------------------------------------------------------------------------


def test_malformed_run_tests_cases_are_reported_one_by_one() -> None:
    result = cli("test", FIXTURES / "malformed.cedartests.json")
    assert result.returncode == 1
    out = result.stdout
    assert (
        "test principal-is-not-a-uid ... error: failed to parse principal `not an euid`: "
        "unexpected token `an`" in out
    )
    assert "test no-num-errors ... error: missing field `num_errors`" in out
    assert "test capitalised-decision ... error: unknown variant `Deny`" in out
    assert "test context-does-not-fit-the-schema ... error: failed to build request" in out
    assert "test entities-outside-the-test-folder ... error: entities file" in out
    assert "results: 0 passed, 5 failed" in out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-json.cedartests.json", "failed to parse tests from file"),
        ("no-such-file.json", "failed to open test file"),
        ("README.md", "failed to parse tests from file"),
    ],
)
def test_a_test_file_that_cannot_be_read_is_a_failure(name: str, message: str) -> None:
    result = cli("test", FIXTURES / name)
    assert result.returncode == 1
    assert message in result.stderr


def test_http_tests_with_mistakes(tmp_path: Path) -> None:
    tests = tmp_path / "mistakes.tests.json"
    tests.write_text(json.dumps([
        {"name": "typo", "user": "alice", "method": "GET", "path": "/employees",
         "decison": "allow"},
        {"name": "stranger", "user": "zed", "method": "GET", "path": "/employees",
         "decision": "deny"},
        {"name": "nobody", "method": "GET", "path": "/employees", "decision": "deny"},
        {"name": "bad-ip", "user": "alice", "method": "GET", "path": "/employees",
         "sourceIp": "10.0.0", "decision": "deny"},
    ]))  # fmt: skip
    result = cli("test", tests, *ENTITIES)
    assert result.returncode == 1
    lines = statuses(result.stdout)
    assert lines == {"typo": "error", "stranger": "error", "nobody": "error", "bad-ip": "error"}
    assert "unknown field `decison`" in result.stdout
    assert "unknown sample user `zed`" in result.stdout
    assert "needs a sample `user` or token `claims`" in result.stdout


def test_tests_refuse_policies_that_do_not_validate() -> None:
    result = cli("test", HTTP_TESTS, *ENTITIES, "--policies", FIXTURES / "type_error")
    assert result.returncode == 3
    assert "limit-is-a-number" in result.stderr


def test_tests_report_a_policy_that_does_not_parse() -> None:
    result = cli("test", HTTP_TESTS, *ENTITIES, "--policies", FIXTURES / "syntax_error")
    assert result.returncode == 1
    assert "failed to parse policies from file tests/authoring/syntax_error/broken.cedar" in (
        result.stderr
    )
    assert "unexpected token `resource`" in result.stderr


# --- validate ---------------------------------------------------------------------------------


def test_validate_the_sample_application() -> None:
    result = cli("validate", "--api", FIXTURES / "api" / "openapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy set validation passed: 11 policies, 0 templates, 0 links in 4 files" in (
        result.stdout
    )
    document = json.loads(cli("validate", "--api", "none", "--json").stdout)
    assert document["passed"] is True and document["errors"] == []
    assert len(document["routes"]) == 10


def test_validate_a_syntax_error() -> None:
    result = cli("validate", "--policies", FIXTURES / "syntax_error", "--api", "none")
    assert result.returncode == 1
    assert "failed to parse policies from file tests/authoring/syntax_error/broken.cedar" in (
        result.stdout
    )
    assert "unexpected token `resource`" in result.stdout
    assert "╭─[tests/authoring/syntax_error/broken.cedar:6]" in result.stdout
    document = json.loads(cli("validate", "--policies", FIXTURES / "syntax_error", "--json").stdout)
    assert document["errors"][0] == {
        "severity": "error", "kind": "parse", "file": "tests/authoring/syntax_error/broken.cedar",
        "line": 6, "policy": "broken", "message": "unexpected token `resource`",
    }  # fmt: skip


def test_validate_a_type_error() -> None:
    result = cli("validate", "--policies", FIXTURES / "type_error", "--api", "none")
    assert result.returncode == 3
    assert (
        "for policy `limit-is-a-number`, the types Long and String are not compatible"
        in result.stdout
    )
    assert "╭─[tests/authoring/type_error/policies.cedar:5]" in result.stdout


def test_validate_an_unknown_action() -> None:
    result = cli("validate", "--policies", FIXTURES / "unknown_action", "--json")
    assert result.returncode == 3
    errors = json.loads(result.stdout)["errors"]
    assert errors[0]["policy"] == "delete-employees"
    assert errors[0]["file"] == "tests/authoring/unknown_action/policies.cedar"
    assert errors[0]["line"] == 6  # the line that names the action, not the policy's first
    assert (
        'unrecognized action `Corp::Action::"delete /employees/{employeeId}"`'
        in (errors[0]["message"])
    )


def test_validate_an_empty_directory(tmp_path: Path) -> None:
    result = cli("validate", "--policies", tmp_path)
    assert result.returncode == 1
    assert f"no *.cedar files in {tmp_path}" in result.stderr


def test_validate_a_missing_policy_directory(tmp_path: Path) -> None:
    result = cli("validate", "--policies", tmp_path / "nope")
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_validate_a_missing_schema(tmp_path: Path) -> None:
    result = cli("validate", "--schema", tmp_path / "nope.cedarschema")
    assert result.returncode == 1
    assert "no such schema file" in result.stderr
    elsewhere = cli("validate", "--policies", ROOT / "policies", cwd=tmp_path)
    assert elsewhere.returncode == 1
    assert "a schema is required" in elsewhere.stderr


def test_validate_a_schema_that_does_not_parse(tmp_path: Path) -> None:
    schema = tmp_path / "broken.cedarschema"
    schema.write_text("namespace Corp { entity User in [ }")
    result = cli("validate", "--schema", schema)
    assert result.returncode == 1
    assert str(schema) in result.stderr


def test_flags_override_the_environment() -> None:
    env = {"CEDAR_POLICY_DIR": str(FIXTURES / "type_error")}
    assert cli("validate", "--api", "none", env=env).returncode == 3
    fixed = cli("validate", "--api", "none", "--policies", "policies", env=env)
    assert fixed.returncode == 0


@pytest.mark.skipif(not HAS_YAML, reason="PyYAML is not installed")
def test_validate_every_api_route_has_an_action() -> None:
    result = cli("validate", "--api", FIXTURES / "api" / "template.yaml")
    assert result.returncode == 3
    assert "the API exposes `DELETE /employees/{employeeId}`" in result.stdout
    assert "╭─[tests/authoring/api/template.yaml:" in result.stdout
    assert "the API exposes `GET /employees/{id}`" not in result.stdout  # parameter names differ


def test_validate_a_route_whose_resource_cannot_be_built(tmp_path: Path) -> None:
    schema = (ROOT / "schemas" / "corp.cedarschema").read_text()
    schema = schema.replace(
        'action "get /invoices" appliesTo { principal: User, resource: Application,',
        'action "get /invoices" appliesTo { principal: User, resource: Invoice,',
    )
    (tmp_path / "corp.cedarschema").write_text(schema)
    result = cli("validate", "--schema", tmp_path / "corp.cedarschema", "--api", "none")
    assert result.returncode == 3
    assert "route `GET /invoices` (action `get /invoices`) applies to Corp::Invoice" in (
        result.stdout
    )


# --- template links ---------------------------------------------------------------------------


def test_templates_and_links_validate_and_run() -> None:
    links = TEMPLATES / "links.json"
    valid = cli("validate", "--policies", TEMPLATES, "--links", links, "--api", "none")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "1 policy, 1 template, 1 link in 1 file" in valid.stdout
    run = cli(
        "test", TEMPLATES / "templates.tests.json", "--policies", TEMPLATES, *ENTITIES,
        "--coverage", env={"CEDAR_TEMPLATE_LINKS": str(links)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "results: 3 passed, 0 failed" in run.stdout
    assert "coverage: 3 of 3 policies" in run.stdout


def test_a_link_that_does_not_fit_the_schema() -> None:
    links = TEMPLATES / "links-wrong-type.json"
    result = cli("validate", "--policies", TEMPLATES, "--links", links, "--api", "none")
    assert result.returncode == 3
    assert "for policy `invoice-viewer-on-an-employee`" in result.stdout
    assert "╭─[tests/authoring/templates/links-wrong-type.json:4]" in result.stdout


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ("links-unknown-template.json", "template_id `no-such-template` names no template"),
        ("links-missing-slot.json", "has slots ?principal, ?resource; the link fills ?principal"),
        ("no-such-links.json", "no such template links file"),
    ],
)
def test_links_that_cannot_be_linked(links: str, message: str) -> None:
    result = cli("validate", "--policies", TEMPLATES, "--links", TEMPLATES / links)
    assert result.returncode == 1
    assert message in result.stderr


def test_links_decide_as_cedarpy_with_linked_batch() -> None:
    policies = load_policies(ROOT / TEMPLATES)
    text = (ROOT / TEMPLATES / "links.json").read_text()
    linked = link_templates(policies, parse_links(text, "links.json"), TEMPLATES / "links.json")
    theirs = policies.policy_set().with_linked_batch([
        {"template_id": "invoice-viewer", "new_id": "auditor-views-inv-001",
         "values": {"?principal": 'Corp::User::"auditor-0001"',
                    "?resource": 'Corp::Invoice::"inv-001"'}},
    ])  # fmt: skip
    entities = json.loads((ROOT / "entities" / "corp.json").read_text())
    entities.append({"uid": {"type": "Corp::User", "id": "auditor-0001"},
                     "attrs": {"tenant": "acme"}, "parents": []})  # fmt: skip
    for invoice in ("inv-001", "inv-101"):
        request = {
            "principal": {"type": "Corp::User", "id": "auditor-0001"},
            "action": {"type": "Corp::Action", "id": "get /invoices/{invoiceId}"},
            "resource": {"type": "Corp::Invoice", "id": invoice},
            "context": {},
        }
        ours = cedarpy.is_authorized(request, linked.policy_set(), json.dumps(entities))
        reference = cedarpy.is_authorized(request, theirs, json.dumps(entities))
        assert ours.decision == reference.decision
        assert ours.diagnostics.reasons == reference.diagnostics.reasons


@pytest.mark.parametrize(
    "text",
    [
        "not an euid",
        'Corp::User::"a", action, resource) when { true }; permit(principal',
        'Corp::User::"a", action == Corp::Action::"x", resource',
        '"just a string"',
    ],
)
def test_entity_uids_cannot_smuggle_policy_text(text: str) -> None:
    with pytest.raises(UidError):
        parse_uid(text)


def test_entity_uids_in_both_forms() -> None:
    assert parse_uid('Corp::User::"a\\"b"') == {"type": "Corp::User", "id": 'a"b'}
    assert parse_uid({"__entity": {"type": "T", "id": "x"}}) == {"type": "T", "id": "x"}


# --- format -----------------------------------------------------------------------------------


def test_format_check_and_write(tmp_path: Path) -> None:
    policy = tmp_path / "tenancy.cedar"
    policy.write_text(  # written by hand, on one line: not Cedar's layout
        "// Rule: a tenant never reaches another tenant's resources.\n"
        '@id("tenant-isolation") forbid (principal, action, resource) unless { resource is '
        "Corp::Application || (resource has tenant && principal.tenant == resource.tenant) };\n"
    )
    before = policy.read_text()
    printed = cli("format", policy)
    assert printed.returncode == 0
    assert printed.stdout != before and '@id("tenant-isolation")' in printed.stdout
    check = cli("format", "--check", tmp_path)
    assert check.returncode == 1
    assert f"would reformat {policy}" in check.stdout
    assert policy.read_text() == before
    write = cli("format", "--write", tmp_path)
    assert write.returncode == 0 and f"reformatted {policy}" in write.stdout
    assert policy.read_text() == printed.stdout
    assert "// Rule: a tenant never reaches" in policy.read_text()  # comments are kept
    assert cli("format", "--check", policy).returncode == 0


def test_the_sample_policies_are_in_cedar_format() -> None:
    assert cli("format", "--check", ROOT / "policies").returncode == 0


def test_format_a_file_that_does_not_parse(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cedar"
    shutil.copy(ROOT / FIXTURES / "syntax_error" / "broken.cedar", broken)
    result = cli("format", "--write", broken)
    assert result.returncode == 1
    assert "unexpected token `resource`" in result.stderr
    assert f"╭─[{broken}:6]" in result.stderr
    assert broken.read_text() == (ROOT / FIXTURES / "syntax_error" / "broken.cedar").read_text()


def test_format_a_missing_path(tmp_path: Path) -> None:
    result = cli("format", tmp_path / "nope.cedar")
    assert result.returncode == 1
    assert "no such file or directory" in result.stderr


# --- explain ----------------------------------------------------------------------------------


def test_explain_a_deny() -> None:
    result = cli(
        "explain", "--user", "alice", "--method", "GET", "--path", "/employees/emp-101",
        *ENTITIES,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("decision: Deny")
    assert "route: GET /employees/{employeeId}  employeeId=emp-101" in out
    assert 'resource: Corp::Employee::"emp-101"' in out
    assert "  tenant-isolation  forbid  policies/tenancy.cedar:5" in out
    assert 'Corp::User::"alice"  (token)  in [Corp::UserGroup::"engineering"]' in out
    assert '"tenant": "globex"' in out  # the resource from the entity store
    assert "context:" in out and '"employee:read"' in out


def test_explain_as_json() -> None:
    result = cli(
        "explain", "--user", "pat", "--method", "POST", "--path", "/accounts/acc-001/transfers",
        "--query", "amount=1200", *ENTITIES, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["decision"] == "Allow"
    assert document["determiningPolicies"] == [{
        "id": "transfers-initiate", "effect": "permit", "file": "policies/transfers.cedar",
        "line": 3,
    }]  # fmt: skip
    assert document["context"]["amount"] == 1200
    assert document["resource"] == {"type": "Corp::Account", "id": "acc-001"}


def test_explain_a_token_and_claims() -> None:
    issuer = LocalIssuer()
    groups, claims = split_profile("hank")
    token = issuer.token("hank", groups=groups, extra=claims)
    by_token = cli(
        "explain", "--token", token, "--method", "GET", "--path", "/employees/emp-001/salary",
        *ENTITIES,
    )  # fmt: skip
    assert by_token.returncode == 0, by_token.stdout + by_token.stderr
    assert "salary-view  permit" in by_token.stdout
    assert "signature was not checked" in by_token.stdout
    by_claims = cli(
        "explain", "--claims", json.dumps({"sub": "x", "tenant": "acme"}),
        "--method", "GET", "--path", "/employees", *ENTITIES,
    )  # fmt: skip
    assert by_claims.returncode == 2
    assert "determining policies: none" in by_claims.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "not-a-jwt"], "not a JWT"),
        (["--claims", "[1]"], "--claims must be a JSON object"),
        (["--user", "zed"], "unknown sample user"),
        (["--user", "alice", "--time", "yesterday"], "--time is not an ISO 8601"),
        # The last was kept: an Allow on ?amount=2 for a request the gateway refuses.
        (["--user", "alice", "--query", "a=1", "--query", "a=2"], "--query a is given twice"),
    ],
)
def test_explain_bad_input(args: list[str], message: str) -> None:
    result = cli("explain", *args, "--method", "GET", "--path", "/employees")
    assert result.returncode == 1
    assert message in result.stderr


def test_explain_a_refused_token() -> None:
    result = cli(
        "explain", "--user", "alice", "--token-use", "id", "--method", "GET", "--path",
        "/employees",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("decision: Unauthorized")


TWO_ISSUERS = json.dumps([
    {"issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_POOL", "client_ids": ["c1"]},
    {"issuer": "https://login.example.com", "entity_id_prefix": "ext", "client_ids": ["c2"]},
])  # fmt: skip


def test_explain_and_test_with_several_issuers() -> None:
    """With AUTH_ISSUERS (and no AUTH_ISSUER) the tools mint as the first issuer, or as the one
    a token names, with that issuer's prefix: they used to refuse both variables as set."""
    env = {"AUTH_ISSUERS": TWO_ISSUERS}
    result = cli("explain", "--user", "alice", "--method", "GET", "--path", "/employees/emp-001",
                 *ENTITIES, env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'principal: Corp::User::"us-east-1_POOL|alice"' in result.stdout
    claims = {"iss": "https://login.example.com", "sub": "bob", "client_id": "c2",
              "scope": "openid", "typ": "Bearer"}  # fmt: skip
    token = LocalIssuer(issuer=claims["iss"]).sign(
        {**claims, "iat": 1_795_000_000, "exp": 4_000_000_000}
    )
    by_token = cli("explain", "--token", token, "--method", "GET", "--path", "/employees",
                   *ENTITIES, env=env)  # fmt: skip
    # Configured: verified against that issuer's real keys (not reachable here), not re-signed.
    assert "signature was not checked" not in by_token.stdout
    assert by_token.returncode == 1
    # Claims naming the second issuer are minted as it (its prefix).
    as_second = json.dumps({"iss": claims["iss"], "sub": "alice"})
    second = cli("explain", "--claims", as_second, "--method", "GET", "--path", "/employees",
                 *ENTITIES, "--json", env=env)  # fmt: skip
    assert json.loads(second.stdout)["principal"] == {"type": "Corp::User", "id": "ext|alice"}
    # The sample's entity file names its users without a prefix: one issuer, prefix "".
    one = json.dumps([{**json.loads(TWO_ISSUERS)[0], "entity_id_prefix": ""}])
    suite = cli("test", "tests/sample_app.tests.json", env={"AUTH_ISSUERS": one})
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "0 failed" in suite.stdout


# --- diff -------------------------------------------------------------------------------------


def test_diff_lists_the_decisions_a_change_flips(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(ROOT / "policies", new)
    (new / "tenancy.cedar").unlink()  # drop tenant isolation
    result = cli("diff", "policies", new, "--tests", HTTP_TESTS, CEDAR_TESTS, *ENTITIES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "test read-other-tenant: deny -> allow  (old: tenant-isolation; new: employees-read)"
        in result.stdout
    )
    assert "test cedar-read-other-tenants-employee: deny -> allow" in result.stdout
    assert "test list-permission:" not in result.stdout
    assert "7 of 51 decisions change" in result.stdout
    gated = cli("diff", "policies", new, "--tests", HTTP_TESTS, *ENTITIES, "--exit-code")
    assert gated.returncode == 1
    document: dict[str, Any] = json.loads(
        cli("diff", "policies", new, "--tests", HTTP_TESTS, *ENTITIES, "--json").stdout
    )
    assert {c["test"] for c in document["changes"]} >= {
        "read-other-tenant",
        "transfer-other-tenant",
    }


def test_diff_of_identical_policies() -> None:
    result = cli("diff", "policies", "policies", "--tests", HTTP_TESTS, *ENTITIES, "--exit-code")
    assert result.returncode == 0
    assert "0 of 44 decisions change" in result.stdout


def test_diff_refuses_a_side_that_does_not_validate() -> None:
    result = cli("diff", "policies", FIXTURES / "type_error", "--tests", HTTP_TESTS, *ENTITIES)
    assert result.returncode == 3
    assert "limit-is-a-number" in result.stderr


def test_validate_points_at_the_line_that_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing `;` shows at the policy after it (Cedar's message names the token only), and a
    validation error at the line holding the name it quotes, not at the policy's first line."""
    from authorizer.tooling.cli import main  # noqa: PLC0415  # in process: no subprocess needed

    for name in [k for k in os.environ if k.startswith(("AUTH_", "CEDAR_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)
    text = (ROOT / "policies" / "employees.cedar").read_text()
    lines = text.splitlines()
    end = next(n for n, line in enumerate(lines, 1) if line.rstrip().endswith("};"))
    following = next(n for n in range(end + 1, len(lines) + 1) if lines[n - 1].startswith("@id"))
    folder = tmp_path / "missing_semicolon"
    folder.mkdir()
    broken = lines.copy()
    broken[end - 1] = broken[end - 1].replace("};", "}")
    (folder / "employees.cedar").write_text("\n".join(broken) + "\n")
    assert main(["validate", "--policies", str(folder), "--api", "none"]) == 1
    assert f"╭─[{folder / 'employees.cedar'}:{following}]" in capsys.readouterr().out

    where = next(n for n, line in enumerate(lines, 1) if "resource.group has hrGroup" in line)
    folder = tmp_path / "unknown_attribute"
    folder.mkdir()
    wrong = lines.copy()
    wrong[where - 1] = wrong[where - 1].replace("resource.group has", "resource.grupo has")
    (folder / "employees.cedar").write_text("\n".join(wrong) + "\n")
    assert main(["validate", "--policies", str(folder), "--api", "none"]) == 3
    output = capsys.readouterr().out
    assert "attribute `grupo`" in output
    assert f"╭─[{folder / 'employees.cedar'}:{where}]" in output


def test_a_sample_users_groups_go_under_the_claim_of_the_issuer_named() -> None:
    from authorizer.cedar.schema import load_schema  # noqa: PLC0415
    from authorizer.tooling.authoring.harness import Harness, Identity  # noqa: PLC0415

    harness = Harness.local(
        load_policies(ROOT / "policies"), load_schema(ROOT / "schemas" / "corp.cedarschema"),
        environ={"AUTH_ISSUERS": TWO_ISSUERS},
    )  # fmt: skip
    first = harness.claims(Identity(user="alice"))
    second = harness.claims(Identity(user="alice", claims={"iss": "https://login.example.com"}))
    assert first["cognito:groups"] == ["engineering"] and "groups" not in first
    assert second["groups"] == ["engineering"] and "cognito:groups" not in second


def test_a_links_file_with_a_key_given_twice_is_refused() -> None:
    """The last `template_id` won: a link to a blocking template became a link to a sharing one."""
    from authorizer.errors import PolicyError  # noqa: PLC0415

    text = ('[{"id": "carol-blocked", "template_id": "block-folder",'
            ' "template_id": "share-folder", "values": {}}]')  # fmt: skip
    with pytest.raises(PolicyError, match="'template_id' is given twice"):
        parse_links(text, "links.json")


def test_claims_given_whole_carry_no_sample_scope(tmp_path: Path) -> None:
    """`claims: {"sub": "u1"}` minted a token with the sample users' scope `openid employee:read`:
    a test that a token without scope is denied passed only for the sample's scope."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        '@id("scoped") permit (principal, action, resource) when { context.token has scope };\n'
    )
    (tmp_path / "lib.cedarschema").write_text(
        'namespace Lib { type Tok = { "scope"?: Set<String> }; entity Application;\n'
        "  entity UserGroup; entity User in [UserGroup];\n"
        '  action "get /catalog" appliesTo { principal: User, resource: Application,\n'
        '                                   context: { "token": Tok } }; }'
    )
    tests = tmp_path / "lib.tests.json"
    tests.write_text(json.dumps({"tests": [
        {"name": "no-scope", "claims": {"sub": "u1"}, "method": "GET", "path": "/catalog",
         "decision": "deny"},
        {"name": "a-scope", "claims": {"sub": "u1", "scope": "read"}, "method": "GET",
         "path": "/catalog", "decision": "allow"},
    ]}))  # fmt: skip
    where = ("--policies", tmp_path / "policies", "--schema", tmp_path / "lib.cedarschema",
             "--entities", "none")  # fmt: skip
    result = cli("test", tests, *where, cwd=tmp_path)
    assert statuses(result.stdout) == {"no-scope": "ok", "a-scope": "ok"}, result.stdout
    assert result.returncode == 0
    explained = cli("explain", "--claims", '{"sub": "u1"}', "--method", "GET", "--path",
                    "/catalog", *where, cwd=tmp_path)  # fmt: skip
    assert explained.returncode == 2, explained.stdout
