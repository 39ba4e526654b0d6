"""Policy bundles: the format, `cedar-authz bundle`, their sources (a file; S3 on a moto server on
loopback) and the refresh, driven by an injected clock (no sleeps)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from authorizer.cedar.bundle import engine_of, make_bundle, read_bundle
from authorizer.cedar.bundle_source import (
    BundleMissing,
    BundleUnavailable,
    FileSource,
    LiveBundle,
    bundle_source,
)
from authorizer.config import AwsSettings, BundleSettings
from authorizer.errors import ConfigError, PolicyError
from authorizer.tooling.cli import main
from tests.conftest import ROOT, FakeClock

BUCKET = "policy-bundles"
KEY = "prod/bundle.json"


def write_sample_bundle(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "bundle.json"
    assert main(["bundle", "--policies", str(ROOT / "policies"), "--schema",
                 str(ROOT / "schemas" / "corp.cedarschema"), "--entities",
                 str(ROOT / "entities" / "corp.json"), *extra, "-o", str(out)]) == 0  # fmt: skip
    return out


def edited(bundle: dict[str, Any], file: str, old: str, new: str) -> bytes:
    """The bundle with one policy file edited, its version recomputed (as `bundle` would)."""
    policies = dict(bundle["policies"])
    assert old in policies[file]
    policies[file] = policies[file].replace(old, new)
    fresh = make_bundle(policies, bundle["schema"], bundle["links"], bundle["entities"])
    return json.dumps(fresh).encode()


# --- the format and the command -----------------------------------------------------------------


def test_the_bundle_holds_everything_and_decides_with_its_version(tmp_path: Path) -> None:
    data = write_sample_bundle(tmp_path).read_bytes()
    bundle = read_bundle(data, "bundle.json")
    assert set(bundle["policies"]) == {p.name for p in (ROOT / "policies").glob("*.cedar")}
    assert bundle["schema"] is not None and len(bundle["entities"]) > 0
    engine = engine_of(bundle, "bundle.json")
    assert engine.version == bundle["version"]
    assert len(engine.policies.sources) == 11
    # The same inputs make the same version; an edit makes another.
    assert (
        read_bundle(write_sample_bundle(tmp_path).read_bytes(), "b")["version"]
        == (bundle["version"])
    )
    changed = read_bundle(edited(bundle, "tenancy.cedar", "forbid", "permit"), "b")
    assert changed["version"] != bundle["version"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: {**b, "version": "0" * 24}, "does not match its content"),
        (lambda b: {**b, "policies": {**b["policies"], "x.cedar": "permit("}}, "does not match"),
        (lambda b: {**b, "format": "other/1"}, "not a cedar-authz/bundle/1 bundle"),
        (lambda b: {**b, "policies": ["permit"]}, "must map file names"),
        (lambda b: {**b, "schema": "text"}, "`schema` must be a dict"),
    ],
    ids=["version", "content", "format", "policies", "schema"],
)
def test_a_damaged_bundle_is_refused_whole(tmp_path: Path, damage: Any, message: str) -> None:
    bundle = json.loads(write_sample_bundle(tmp_path).read_bytes())
    with pytest.raises(PolicyError, match=message):
        read_bundle(json.dumps(damage(bundle)).encode(), "b.json")
    with pytest.raises(PolicyError, match="not a JSON bundle"):
        read_bundle(b"{", "b.json")


def test_a_bundle_whose_policies_do_not_validate_is_refused(tmp_path: Path) -> None:
    bundle = read_bundle(write_sample_bundle(tmp_path).read_bytes(), "b")
    broken = read_bundle(edited(bundle, "finance.cedar", "principal.department", "principal.dept"),
                         "b")  # fmt: skip
    with pytest.raises(PolicyError, match="do not validate"):
        engine_of(broken, "b")


def test_the_command_writes_nothing_that_does_not_validate(tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    args = ["bundle", "--policies", str(ROOT / "tests" / "authoring" / "type_error"),
            "--schema", str(ROOT / "schemas" / "corp.cedarschema"), "-o", str(out)]  # fmt: skip
    assert main(args) == 3
    assert not out.exists()
    args[2] = str(tmp_path / "missing")
    assert main(args) == 1
    assert not out.exists()


# --- sources ----------------------------------------------------------------------------------


def test_a_file_source_answers_not_modified_until_the_file_changes(tmp_path: Path) -> None:
    path = write_sample_bundle(tmp_path)
    source = FileSource(path)
    first = source.fetch(None)
    assert first.body == path.read_bytes()
    assert source.fetch(first.etag).body is None
    path.write_bytes(path.read_bytes() + b" ")
    assert source.fetch(first.etag).body is not None
    with pytest.raises(BundleMissing):
        FileSource(tmp_path / "none.json").fetch(None)


@pytest.fixture
def s3_endpoint(moto_server: str) -> str:
    return moto_server


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")  # moto's, not AWS's
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_upload_then_an_s3_source_fetches_conditionally(
    tmp_path: Path, s3: Any, s3_endpoint: str
) -> None:
    assert main(["bundle", "--policies", str(ROOT / "policies"), "--schema",
                 str(ROOT / "schemas" / "corp.cedarschema"),
                 "--upload", f"s3://{BUCKET}/{KEY}"]) == 0  # fmt: skip
    aws = AwsSettings(region="us-east-1", s3_endpoint=s3_endpoint)
    source = bundle_source(f"s3://{BUCKET}/{KEY}", aws)
    first = source.fetch(None)
    assert first.body is not None and read_bundle(first.body, source.url)
    assert source.fetch(first.etag).body is None  # 304: nothing new, nothing read
    with pytest.raises(BundleMissing):
        bundle_source(f"s3://{BUCKET}/other.json", aws).fetch(None)
    # No bucket is no bundle (a bucket per tenant: a tenant without one), not an outage.
    with pytest.raises(BundleMissing, match="NoSuchBucket"):
        bundle_source(f"s3://no-such-bucket-here/{KEY}", aws).fetch(None)
    gone = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(BundleUnavailable, match=r": unreachable: EndpointConnectionError"):
        bundle_source(f"s3://{BUCKET}/{KEY}", client=gone).fetch(None)
    with pytest.raises(BundleUnavailable):
        bundle_source("s3://bucket-only", aws)


# --- the refresh ----------------------------------------------------------------------------


class Counting:
    """A source that counts fetches (the refresh is a clock comparison until it is due)."""

    def __init__(self, inner: FileSource) -> None:
        self.inner, self.url, self.fetches = inner, inner.url, 0

    def fetch(self, etag: str | None) -> Any:
        self.fetches += 1
        return self.inner.fetch(etag)


def test_live_bundle_refreshes_at_most_every_interval_and_keeps_the_last_good_one(
    tmp_path: Path,
) -> None:
    path = write_sample_bundle(tmp_path)
    bundle = json.loads(path.read_bytes())
    clock = FakeClock()
    refused: list[tuple[str, str]] = []
    source = Counting(FileSource(path))
    live = LiveBundle(source, 30, clock, on_refused=lambda url, why: refused.append((url, why)))
    first = live.engine()
    assert first.version == bundle["version"] and source.fetches == 1
    clock.advance(29)
    assert live.engine() is first and source.fetches == 1  # not due: no fetch at all
    newer = edited(bundle, "tenancy.cedar", "// ", "// edited: ")
    path.write_bytes(newer)
    clock.advance(1)
    second = live.engine()
    assert second is not first and second.version == json.loads(newer)["version"]
    # A broken bundle is refused; the last good one serves, and the reason is reported.
    path.write_bytes(b'{"format": "cedar-authz/bundle/1"')
    clock.advance(30)
    assert live.engine() is second
    assert refused and "not a JSON bundle" in refused[-1][1]
    path.unlink()
    clock.advance(30)
    assert live.engine() is second
    assert refused[-1][1] == "missing"


def test_a_cold_start_with_no_good_bundle_fails_closed(tmp_path: Path) -> None:
    clock = FakeClock()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "cedar-authz/bundle/1", "policies": {}}')
    with pytest.raises(BundleUnavailable):
        LiveBundle(FileSource(bad), 30, clock).engine()
    with pytest.raises(BundleMissing):
        LiveBundle(FileSource(tmp_path / "none.json"), 30, clock).engine()
    # Fixed in place, it serves from the next check on.
    live = LiveBundle(FileSource(bad), 30, clock)
    with pytest.raises(BundleUnavailable):
        live.engine()
    shutil.copy(write_sample_bundle(tmp_path), bad)
    clock.advance(30)
    assert live.engine().version


def test_bundle_settings() -> None:
    assert BundleSettings.from_env({}) == BundleSettings(None, 30.0, None, 100)
    tenants = BundleSettings.from_env({
        "CEDAR_POLICY_BUNDLE": "s3://b/tenants/{tenant}.json", "CEDAR_TENANT_CLAIM": "tenant",
        "CEDAR_POLICY_REFRESH_SECONDS": "5", "CEDAR_TENANT_BUNDLES_MAX": "50",
    })  # fmt: skip
    assert tenants == BundleSettings("s3://b/tenants/{tenant}.json", 5.0, "tenant", 50)
    for bad in (
        {"CEDAR_POLICY_BUNDLE": "s3://b/{tenant}.json"},  # no claim to fill it
        {"CEDAR_TENANT_BUNDLES_MAX": "0"},
        {"CEDAR_POLICY_REFRESH_SECONDS": "soon"},
    ):
        with pytest.raises(ConfigError):
            BundleSettings.from_env(bad)
    # A fixed bundle beside a tenant claim: an issuer's own {tenant} bundle may use the claim
    # (Settings checks that some bundle has {tenant}).
    fixed = {"CEDAR_POLICY_BUNDLE": "s3://b/all.json", "CEDAR_TENANT_CLAIM": "tenant"}
    assert BundleSettings.from_env(fixed).tenant_claim == "tenant"


def test_an_invalid_bundle_is_reported_where_its_policy_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bundle` said `bundle/z.cedar:3: policy 'bad': for policy `policy0``: a path that does
    not exist and Cedar's positional id, where `validate` names the file and the @id."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "z.cedar").write_text(
        '// two lines\n// of comment\n@id("bad")\n'
        "permit (principal, action, resource) when { resource.nosuch == 1 };\n"
    )
    schema = tmp_path / "lib.cedarschema"
    schema.write_text(
        "namespace Lib { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  entity Book; action "get /books/{bookId}" appliesTo { principal: User, resource: Book }; }'
    )
    out = tmp_path / "b.json"
    code = main(["bundle", "--policies", str(policies), "--schema", str(schema), "--entities",
                 "none", "-o", str(out)])  # fmt: skip
    assert code == 3 and not out.exists()
    err = capsys.readouterr().err
    assert f"{policies / 'z.cedar'}:3: policy 'bad': for policy `bad`," in err, err
    assert "bundle/z.cedar" not in err and "policy0" not in err


def test_bundle_refuses_what_the_authorizer_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two actions on one route validate in Cedar; `bundle` wrote them (exit 0) and every warm
    authorizer that loaded the bundle then failed (a 500 per request)."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.cedar").write_text("permit (principal, action, resource);\n")
    schema = tmp_path / "lib.cedarschema"
    schema.write_text(
        "namespace Lib { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  action "get /books/{id}", "get /books/{bookId}"\n'
        "    appliesTo { principal: User, resource: Application }; }"
    )
    out = tmp_path / "b.json"
    code = main(["bundle", "--policies", str(policies), "--schema", str(schema), "--entities",
                 "none", "-o", str(out)])  # fmt: skip
    assert code == 3 and not out.exists()
    assert "same route" in capsys.readouterr().err


def _lib_app(tmp_path: Path) -> tuple[Path, Path]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.cedar").write_text(
        'forbid (principal, action, resource in Lib::Shelf::"locked");\n'
        "permit (principal, action, resource);\n"
    )
    schema = tmp_path / "lib.cedarschema"
    schema.write_text(
        "namespace Lib { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  entity Shelf; entity Book in [Shelf]; action "get /books/{bookId}"\n'
        "    appliesTo { principal: User, resource: Book }; }"
    )
    return policies, schema


def test_bundle_refuses_entities_with_a_key_given_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As CEDAR_ENTITIES, Cedar refuses the file; `bundle` kept the last `parents` ([]) and the
    book left the locked shelf, past its forbid."""
    policies, schema = _lib_app(tmp_path)
    entities = tmp_path / "e.json"
    entities.write_text(
        '[{"uid": {"type": "Lib::Book", "id": "b1"}, "attrs": {},'
        ' "parents": [{"type": "Lib::Shelf", "id": "locked"}], "parents": []}]'
    )
    out = tmp_path / "b.json"
    code = main(["bundle", "--policies", str(policies), "--schema", str(schema), "--entities",
                 str(entities), "-o", str(out)])  # fmt: skip
    assert code == 1 and not out.exists()
    assert "'parents' is given twice" in capsys.readouterr().err
    # A bundle written with such a key elsewhere is refused where it is read, too.
    entities.write_text("[]")
    assert main(["bundle", "--policies", str(policies), "--schema", str(schema), "--entities",
                 str(entities), "-o", str(out)]) == 0  # fmt: skip
    text = out.read_text()
    twice = text.replace('"format":', '"links":"","links":null,"format":', 1)
    with pytest.raises(PolicyError, match="given twice"):
        read_bundle(twice.encode(), "b.json")


def test_bundle_refuses_to_write_what_no_authorizer_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over MAX_BUNDLE_BYTES (64 MiB; lowered here), `bundle` wrote it with exit 0 and every
    authorizer refused it."""
    import authorizer.tooling.commands.bundle as command  # noqa: PLC0415

    policies, schema = _lib_app(tmp_path)
    monkeypatch.setattr(command, "MAX_BUNDLE_BYTES", 100)
    out = tmp_path / "b.json"
    code = main(["bundle", "--policies", str(policies), "--schema", str(schema), "--entities",
                 "none", "-o", str(out)])  # fmt: skip
    assert code == 1 and not out.exists()
    assert "over the 100 an authorizer loads" in capsys.readouterr().err
