"""The compiled policy store (authorizer/cedar/compiled.py, `cedar-authz compile`): used only when made
from exactly the files at hand, equal in every respect to reading them, ignored when stale or
damaged, and never a way around validation."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from authorizer.cedar import compiled, engine
from authorizer.cedar.compiled import COMPILED_NAME
from authorizer.cedar.engine import Engine
from authorizer.errors import ConfigError, PolicyError
from authorizer.pdp import Authorizer
from authorizer.stores.store import JsonFileStore
from authorizer.tooling.commands import compile as compile_command
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample import sample_environment, sample_token
from tests.conftest import ROOT, FakeClock, JwksServer
from tests.helpers import outcome, rest, user_token
from tests.test_cli_authoring import cli
from tests.test_sample_app import CASES

RECORD = ("GET", "/employees/emp-001", "/employees/{employeeId}")
FORBID_ALL = '@id("no-one")\nforbid (principal, action, resource);\n'


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A copy of the sample application's policies and schema, compiled."""
    for folder in ("policies", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns(".*"))
    assert cli("compile", cwd=tmp_path).returncode == 0
    return tmp_path


def load(app: Path, use_compiled: bool = True) -> Engine:
    return Engine.load(
        app / "policies", app / "schemas" / "corp.cedarschema", use_compiled=use_compiled
    )


def refuse(*_args: object) -> None:
    raise AssertionError("parsed or validated although the compiled store is current")


def test_a_current_store_skips_parsing_and_validation(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "validate", refuse)
    monkeypatch.setattr(engine, "load_policies", refuse)
    monkeypatch.setattr(engine, "schema_from_text", refuse)
    load(app)  # would raise through `refuse` if the store were not used


def test_a_current_store_loads_what_the_files_say(app: Path) -> None:
    fast, slow = load(app), load(app, use_compiled=False)
    assert fast.policies.document == slow.policies.document
    assert fast.policies.sources == slow.policies.sources
    assert fast.policies.version == slow.policies.version
    assert fast.model == slow.model
    assert fast.model is not None and fast.model.text == slow.model.text  # type: ignore[union-attr]
    assert fast.policies.files == slow.policies.files


def test_a_policy_edit_makes_it_stale_and_the_edit_counts(
    app: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (app / "policies" / "zz.cedar").write_text(FORBID_ALL)
    validated: list[bool] = []
    monkeypatch.setattr(engine, "validate", lambda *a: validated.append(True))
    with caplog.at_level(logging.WARNING):
        loaded = load(app)
    assert validated == [True]
    assert "no-one" in loaded.policies.sources
    assert "is stale" in caplog.text


def test_an_invalid_edit_is_refused_although_a_store_exists(app: Path) -> None:
    policy = app / "policies" / "employees.cedar"
    policy.write_text(policy.read_text() + "\npermit (principal, action, resource) when { 1 };\n")
    with pytest.raises(PolicyError, match="do not validate"):
        load(app)


def test_a_schema_edit_makes_it_stale(app: Path, caplog: pytest.LogCaptureFixture) -> None:
    schema = app / "schemas" / "corp.cedarschema"
    schema.write_text(schema.read_text() + "\n// reviewed\n")
    with caplog.at_level(logging.WARNING):
        loaded = load(app)
    assert "is stale" in caplog.text
    assert loaded.model is not None and loaded.model.text is not None
    assert loaded.model.text.endswith("// reviewed\n")


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (lambda data: data + b" ", "cannot be used"),  # the content no longer matches its digest
        (lambda data: data[: len(data) // 2], "cannot be used"),  # truncated
        (lambda data: b"not json\n" + data, "cannot be used"),  # header unreadable
        (
            lambda data: data.replace(b'"format": %d' % compiled.FORMAT, b'"format": 99'),
            "is stale",
        ),  # other format
    ],
    ids=["extra-byte", "truncated", "bad-header", "other-format"],
)
def test_a_damaged_store_is_ignored(
    app: Path, damage: object, warning: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    path = app / "policies" / COMPILED_NAME
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    validated: list[bool] = []
    monkeypatch.setattr(engine, "validate", lambda *a: validated.append(True))
    with caplog.at_level(logging.WARNING):
        loaded = load(app)
    assert warning in caplog.text
    assert validated == [True]  # the long way: parsed and validated
    assert loaded.policies.document == load(app, use_compiled=False).policies.document


def test_a_store_whose_content_drops_a_policy_is_ignored(app: Path) -> None:
    # The header's digest covers the content: a store edited by hand (here: the tenant
    # isolation forbid removed from its bucket, the tables made to match) is not trusted, so no
    # forbid can silently go missing.
    path = app / "policies" / COMPILED_NAME
    header, _, rest = path.read_bytes().partition(b"\n")
    meta_line, _, body = rest.partition(b"\n")
    meta = json.loads(meta_line)
    offsets = meta["offsets"]
    parts = [json.loads(body[a:b]) for a, b in itertools.pairwise(offsets)]
    kept = [[r for r in part if r[1] != "tenant-isolation"] for part in parts]
    assert sum(map(len, kept)) == sum(map(len, parts)) - 1
    texts = [json.dumps(part, separators=(",", ":")).encode() for part in kept]
    meta["offsets"] = [0]
    for text in texts:
        meta["offsets"].append(meta["offsets"][-1] + len(text))
    edited = json.dumps(meta, separators=(",", ":")).encode() + b"\n" + b"".join(texts)
    path.write_bytes(header + b"\n" + edited)
    loaded = load(app)
    assert "tenant-isolation" in loaded.policies.sources
    assert any(
        s.id == "tenant-isolation" for s in loaded.applicable(("Corp::Action", "view_salary"))
    )


def test_an_unknown_cedar_version_never_trusts_a_store(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled, "cedar_version", lambda: None)
    validated: list[bool] = []
    monkeypatch.setattr(engine, "validate", lambda *a: validated.append(True))
    load(app)
    assert validated == [True]


def test_another_cedar_version_makes_it_stale(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "cedar_version", lambda: "cedarpy-99.0.0.dist-info")
    validated: list[bool] = []
    monkeypatch.setattr(engine, "validate", lambda *a: validated.append(True))
    load(app)
    assert validated == [True]


def test_template_links_are_always_read(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    links = app / "links.json"
    links.write_text("[]")
    monkeypatch.setattr(engine, "read_compiled", refuse)
    Engine.load(app / "policies", app / "schemas" / "corp.cedarschema", links_path=links)


def test_the_authorizer_starts_from_the_store(
    app: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = load(app, use_compiled=False).policies.version
    monkeypatch.setattr(engine, "validate", refuse)
    settings = {
        **env,
        "CEDAR_POLICY_DIR": str(app / "policies"),
        "CEDAR_SCHEMA": str(app / "schemas" / "corp.cedarschema"),
    }
    authz = Authorizer.from_env(settings)
    assert authz.engine.policies.version == expected


def test_compile_check(app: Path) -> None:
    assert cli("compile", "--check", cwd=app).returncode == 0
    (app / "policies" / "zz.cedar").write_text(FORBID_ALL)
    result = cli("compile", "--check", cwd=app)
    assert result.returncode == 1
    assert "missing or stale" in result.stderr
    assert cli("compile", cwd=app).returncode == 0
    assert cli("compile", "--check", cwd=app).returncode == 0


def test_compile_refuses_invalid_and_unparsable_policies(app: Path) -> None:
    policy = app / "policies" / "zz.cedar"
    policy.write_text("permit (principal, action, resource) when { 1 };\n")
    invalid = cli("compile", cwd=app)
    assert invalid.returncode == compile_command.Exit.VALIDATION, invalid.stderr
    assert "do not validate" in invalid.stderr
    policy.write_text("permit (principal, action, resource) when {\n")
    broken = cli("compile", cwd=app)
    assert broken.returncode == compile_command.Exit.FAILURE
    assert "zz.cedar" in broken.stderr
    # Neither wrote a store for these files.
    assert cli("compile", "--check", cwd=app).returncode == 1


def test_compile_checks_the_template_links_a_start_would_read(app: Path) -> None:
    """`compile --links` ignored its file: a missing or broken links file passed the build step,
    and every cold start then failed on it."""
    (app / "policies" / "grant.cedar").write_text(
        '@id("grant")\npermit (principal == ?principal, action, resource == ?resource);\n'
    )
    missing = cli("compile", "--links", str(app / "nope.json"), cwd=app)
    assert missing.returncode == compile_command.Exit.FAILURE, missing.stderr
    assert "no such template links file" in missing.stderr
    links = app / "links.json"
    link = {"template_id": "grant", "link_id": "l1",
            "args": {"?principal": 'Corp::User::"alice"', "?resource": 'Corp::Nope::"x"'}}  # fmt: skip
    links.write_text(json.dumps([link]))
    invalid = cli("compile", "--links", str(links), cwd=app)
    assert invalid.returncode == compile_command.Exit.VALIDATION, invalid.stderr
    link["args"]["?resource"] = 'Corp::Employee::"emp-001"'
    links.write_text(json.dumps([link]))
    good = cli("compile", "--links", str(links), cwd=app)
    assert good.returncode == 0, good.stderr
    assert "the compiled store is not used while they are set" in good.stderr
    check = cli("compile", "--check", "--links", str(links), cwd=app)
    assert check.returncode == 0 and "not used while they are set" in check.stderr


PACKAGED_FIRST_DECISION = """
import json, os, sys
sys.path.insert(0, os.getcwd())  # the package root, as Lambda's /var/task
from authorizer import handler
from authorizer.cedar import engine
def refuse(*_args):
    raise AssertionError("the packaged function parsed or validated its policies")
engine.validate = engine.load_policies = engine.schema_from_text = refuse
answer = handler.lambda_handler(json.loads(os.environ["EVENT"]), None)
print(answer["policyDocument"]["Statement"][0]["Effect"], handler.__cached__)
"""


def test_the_sam_build_refuses_an_interpreter_that_is_not_the_runtimes(tmp_path: Path) -> None:
    """`sam build` without a container ran the target with the host's python3 (3.11): it built
    a package whose cedarpy and .pyc files python3.12 cannot load, and said nothing."""
    import sys  # noqa: PLC0415

    if sys.version_info[:2] == (3, 12):
        pytest.skip("this interpreter is the runtime's: the build would go on to pip")
    make = subprocess.run(
        ["make", "--no-print-directory", "build-AuthorizerFunction",
         f"ARTIFACTS_DIR={tmp_path}", f"PYTHON={sys.executable}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert make.returncode != 0
    assert "is not the Lambda runtime's 3.12" in make.stderr
    assert not any(tmp_path.iterdir())  # nothing installed


def test_the_sam_build_packages_a_current_store_and_byte_code(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer
) -> None:
    """`make package-authorizer` (the second half of build-AuthorizerFunction, the first being
    pip) gives a folder whose handler answers from the compiled store."""
    template = (ROOT / "template.yaml").read_text()
    assert "BuildMethod: makefile" in template
    assert "build-AuthorizerFunction:" in (ROOT / "Makefile").read_text()
    package = tmp_path / "artifacts"
    package.mkdir()
    make = subprocess.run(
        ["make", "--no-print-directory", "package-authorizer", f"ARTIFACTS_DIR={package}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert make.returncode == 0, make.stdout + make.stderr
    # The runtime only: the tooling (CLI, authoring, local gateway) and the library for backends
    # (decision API, redaction, aiohttp middleware) stay out of the function.
    shipped = {p.name for p in (package / "authorizer").iterdir()}
    assert {"handler.py", "pdp.py", "gateway", "identity", "cedar", "stores"} <= shipped
    assert not shipped & {"tooling", "sdk"}
    assert (package / "policies" / COMPILED_NAME).is_file()
    assert list((package / "authorizer" / "__pycache__").glob("handler.*.pyc"))
    env = {  # the template's relative paths, run from the package root as Lambda does
        **os.environ,
        **sample_environment(issuer, jwks_server.url),
        "CEDAR_POLICY_DIR": "policies",
        "CEDAR_SCHEMA": "schemas/corp.cedarschema",
        "CEDAR_ENTITIES": "entities/corp.json",
        "EVENT": json.dumps(rest(sample_token(issuer, "alice"), *RECORD)),
        "PYTHONPATH": "",
    }
    run = subprocess.run(
        [sys.executable, "-c", PACKAGED_FIRST_DECISION],
        cwd=package, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "stale" not in run.stdout + run.stderr
    effect, cached = run.stdout.strip().splitlines()[-1].split()
    assert effect == "Allow"
    assert cached.startswith(str(package))


# --- the entities file the store vouches for -----------------------------------------------


@pytest.fixture
def with_entities(app: Path) -> Path:
    """The sample's entities too: `compile` validates the file and records its digest."""
    shutil.copytree(ROOT / "entities", app / "entities")
    assert cli("compile", cwd=app).returncode == 0
    return app


def entities_file(app: Path) -> Path:
    return app / "entities" / "corp.json"


def test_a_vouched_entities_file_is_indexed_not_parsed_whole(
    with_entities: Path, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The same decisions as the long way, and no whole-file handle unless asked for."""
    settings = {**env, "CEDAR_POLICY_DIR": str(with_entities / "policies"),
                "CEDAR_SCHEMA": str(with_entities / "schemas" / "corp.cedarschema"),
                "CEDAR_ENTITIES": str(entities_file(with_entities))}  # fmt: skip
    fast = Authorizer.from_env(settings, clock=clock)
    (with_entities / "policies" / COMPILED_NAME).unlink()
    slow = Authorizer.from_env(settings, clock=clock)
    assert isinstance(fast.engine.store, JsonFileStore) and fast.engine.store.parsed is None
    assert isinstance(slow.engine.store, JsonFileStore) and slow.engine.store.parsed is not None
    for _, user, method, path, template, kwargs, expected in CASES:
        event = rest(user_token(issuer, user, clock.now), method, path, template,
                     **{"now_ms": int(clock.now * 1000), **kwargs})  # fmt: skip
        assert outcome(fast, event) == outcome(slow, event) == expected, (user, path)
    assert fast.engine.store.parsed is None  # requests take slices
    assert len(fast.engine.entities) == len(slow.engine.entities)  # made when asked for


def test_an_edited_entities_file_is_validated_at_start(with_entities: Path) -> None:
    path = entities_file(with_entities)
    document = json.loads(path.read_text())
    # Valid, but not the text compile validated: parsed whole and validated, as always.
    path.write_text(json.dumps(document, indent=1))
    engine_ = Engine.load(with_entities / "policies",
                          with_entities / "schemas" / "corp.cedarschema", path)  # fmt: skip
    assert isinstance(engine_.store, JsonFileStore) and engine_.store.parsed is not None
    # Not valid for the schema: refused at start, although a compiled store exists.
    document.append({"uid": {"type": "Corp::Nope", "id": "x"}, "attrs": {}, "parents": []})
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match="invalid Cedar entities"):
        Engine.load(with_entities / "policies",
                    with_entities / "schemas" / "corp.cedarschema", path)  # fmt: skip


def test_compile_refuses_an_invalid_entities_file_it_is_given(app: Path) -> None:
    (app / "entities").mkdir()
    bad = [{"uid": {"type": "Corp::Employee", "id": "e"}, "attrs": {"tenant": 7}, "parents": []}]
    (app / "entities" / "bad.json").write_text(json.dumps(bad))
    named = cli("compile", "--entities", app / "entities" / "bad.json", cwd=app)
    assert named.returncode == compile_command.Exit.VALIDATION, named.stderr
    assert "invalid Cedar entities" in named.stderr
    # Only found in entities/ (perhaps another application's): written, the file not vouched for.
    found = cli("compile", cwd=app)
    assert found.returncode == 0, found.stderr
    assert "not recorded" in found.stderr
    meta = json.loads((app / "policies" / COMPILED_NAME).read_text().split("\n")[1])
    assert meta["entities_sha256"] is None
    # A named file that is not JSON does not parse: 1, as a policy file that does not (not 3).
    (app / "entities" / "bad.json").write_text("{not json")
    broken = cli("compile", "--entities", app / "entities" / "bad.json", cwd=app)
    assert broken.returncode == compile_command.Exit.FAILURE, broken.stderr
    assert "not JSON" in broken.stderr
