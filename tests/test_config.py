"""authorizer.config: Settings from environment variables (docs/architecture.md,
Interfaces users rely on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authorizer.config import Settings
from authorizer.errors import ConfigError
from authorizer.issuer_settings import cognito_pool_id, is_loopback_url, require_https

OIDC = "https://issuer.example.com"
POOL = "us-east-1_AbC123xyz"
COGNITO = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


def refused(**env: str) -> str:
    """The ConfigError message for ``env``."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_defaults_for_an_oidc_issuer() -> None:
    s = settings(AUTH_ISSUER=OIDC)
    assert s == Settings(
        issuer=OIDC,
        jwks_url=None,  # OIDC discovery
        client_ids=frozenset(),
        token_use="access",
        audience=None,
        groups_claim="groups",
        policy_dir=Path("policies"),
        # Unset: the one schema of ./schemas (the tests run from the repository root, whose is
        # the sample app's), and no entity store (DESIGN §2), though ./entities holds one.
        schema_path=Path("schemas/corp.cedarschema"),
        entities_path=None,
        namespace=None,
        entity_id_prefix="issuer.example.com",
        decision_cache_ttl=60.0,
        leeway=5.0,
        http_simple_responses=True,
    )
    assert not s.is_cognito


def test_defaults_for_a_cognito_issuer() -> None:
    s = settings(AUTH_ISSUER=COGNITO, AUTH_CLIENT_IDS="client-1")
    assert s.is_cognito
    assert s.jwks_url == f"{COGNITO}/.well-known/jwks.json"
    assert s.client_ids == frozenset({"client-1"})
    assert s.entity_id_prefix == POOL
    assert s.groups_claim == "cognito:groups"


def test_every_variable_is_read() -> None:
    s = settings(
        AUTH_ISSUER=f"  {OIDC}/ ",
        AUTH_JWKS_URL="https://keys.example.com/jwks",
        AUTH_CLIENT_IDS=" a , b,,c ,",
        AUTH_TOKEN_USE=" ID ",
        AUTH_AUDIENCE="api://default",
        AUTH_GROUPS_CLAIM="roles",
        CEDAR_POLICY_DIR="/opt/policies",
        CEDAR_SCHEMA="/opt/schema.cedarschema",
        CEDAR_ENTITIES="/opt/entities.json",
        CEDAR_NAMESPACE="Corp",
        ENTITY_ID_PREFIX="tenant-1",
        DECISION_CACHE_TTL="1.5",
        AUTH_LEEWAY="0",
        HTTP_API_SIMPLE_RESPONSES="off",
    )
    assert s.issuer == f"{OIDC}/"  # stripped of spaces, otherwise exact
    assert s.jwks_url == "https://keys.example.com/jwks"
    assert s.client_ids == frozenset({"a", "b", "c"})
    assert s.token_use == "id"
    assert s.audience == "api://default"
    assert s.groups_claim == "roles"
    assert s.policy_dir == Path("/opt/policies")
    assert s.schema_path == Path("/opt/schema.cedarschema")
    assert s.entities_path == Path("/opt/entities.json")
    assert s.namespace == "Corp"
    assert s.entity_id_prefix == "tenant-1"
    assert s.decision_cache_ttl == 1.5
    assert s.leeway == 0.0
    assert s.http_simple_responses is False


def test_trailing_slash_of_the_issuer_does_not_double_in_the_well_known_urls() -> None:
    cognito = settings(AUTH_ISSUER=f"{COGNITO}", AUTH_CLIENT_IDS="c")
    assert cognito.jwks_url == f"{COGNITO}/.well-known/jwks.json"
    (oidc,) = settings(AUTH_ISSUER=f"{OIDC}/").trusted_issuers
    assert oidc.discovery_url == f"{OIDC}/.well-known/openid-configuration"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ISSUER", "https://from-the-environment.example")
    monkeypatch.delenv("ENTITY_ID_PREFIX", raising=False)
    s = Settings.from_env()
    assert s.issuer == "https://from-the-environment.example"
    assert s.entity_id_prefix == "from-the-environment.example"


@pytest.mark.parametrize("issuer", [None, "", "   "])
def test_issuer_is_required(issuer: str | None) -> None:
    env = {} if issuer is None else {"AUTH_ISSUER": issuer}
    with pytest.raises(ConfigError, match="AUTH_ISSUER is required"):
        Settings.from_env(env)


@pytest.mark.parametrize("client_ids", [None, "", " , ,"])
def test_cognito_issuer_requires_client_ids(client_ids: str | None) -> None:
    env = {"AUTH_ISSUER": COGNITO}
    if client_ids is not None:
        env["AUTH_CLIENT_IDS"] = client_ids
    with pytest.raises(ConfigError, match="AUTH_CLIENT_IDS is required for a Cognito issuer"):
        Settings.from_env(env)


def test_oidc_issuer_does_not_require_client_ids() -> None:
    assert settings(AUTH_ISSUER=OIDC).client_ids == frozenset()


@pytest.mark.parametrize(
    ("issuer", "pool"),
    [
        (COGNITO, POOL),
        ("https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_Z9", "eu-west-3_Z9"),
        (f"{COGNITO}/", None),
        (f"http://cognito-idp.us-east-1.amazonaws.com/{POOL}", None),
        (f"https://cognito-idp.us-east-1.amazonaws.com.evil.example/{POOL}", None),
        ("https://cognito-idp.us-east-1.amazonaws.com/nopool", None),
        (OIDC, None),
    ],
)
def test_cognito_pool_id(issuer: str, pool: str | None) -> None:
    assert cognito_pool_id(issuer) == pool


# --- http:// only on loopback -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/.well-known/jwks.json",
        "http://127.1.2.3/",
        "http://localhost:9000/pool",
        "http://LOCALHOST/",
        "http://[::1]:8443/keys",
        "https://issuer.example.com",
    ],
)
def test_urls_accepted(url: str) -> None:
    assert require_https(url, "AUTH_JWKS_URL") == url
    assert settings(AUTH_ISSUER=OIDC, AUTH_JWKS_URL=url).jwks_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example.com",
        "http://10.0.0.1/keys",
        "http://localhost.example.com/",
        "http://example.com/127.0.0.1",
        "http://localhost@evil.example/",
        "http://[::2]/",
        "ftp://127.0.0.1/keys",
        "file:///etc/jwks.json",
        "issuer.example.com",
        "",
    ],
)
def test_urls_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        require_https(url, "AUTH_JWKS_URL")
    assert "AUTH_JWKS_URL must be an https:// URL" in str(caught.value)
    assert repr(url) in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.evil.example/", "http://127.0.0.1.nip.example/"])
def test_dns_name_that_looks_like_loopback_is_refused(url: str) -> None:
    assert not is_loopback_url(url)
    with pytest.raises(ConfigError):
        require_https(url, "AUTH_JWKS_URL")


def test_http_issuer_is_refused_even_with_an_https_jwks_url() -> None:
    message = refused(AUTH_ISSUER="http://issuer.example.com", AUTH_JWKS_URL="https://k.example")
    assert message.startswith("AUTH_ISSUER must be an https:// URL")


def test_http_jwks_url_is_refused() -> None:
    message = refused(AUTH_ISSUER=OIDC, AUTH_JWKS_URL="http://keys.example.com/jwks")
    assert message.startswith("AUTH_JWKS_URL must be an https:// URL")


def test_loopback_issuer_for_local_runs() -> None:
    s = settings(AUTH_ISSUER="http://127.0.0.1:9229")
    assert s.jwks_url is None  # discovery: http://127.0.0.1:9229/.well-known/openid-configuration
    assert s.entity_id_prefix == "127.0.0.1"


# --- ENTITY_ID_PREFIX ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "prefix", "expected"),
    [
        (OIDC, None, "issuer.example.com"),
        (OIDC, "", ""),
        (OIDC, "acme", "acme"),
        (COGNITO, None, POOL),
        (COGNITO, "", ""),
        (COGNITO, "acme", "acme"),
    ],
)
def test_entity_id_prefix_unset_empty_or_set(
    issuer: str, prefix: str | None, expected: str
) -> None:
    env = {"AUTH_ISSUER": issuer, "AUTH_CLIENT_IDS": "c"}
    if prefix is not None:
        env["ENTITY_ID_PREFIX"] = prefix
    assert Settings.from_env(env).entity_id_prefix == expected


# --- numbers, flags, enumerations ------------------------------------------------------------


@pytest.mark.parametrize("name", ["DECISION_CACHE_TTL", "AUTH_LEEWAY"])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", 0.0), ("30", 30.0), ("2.5", 2.5), ("1e3", 1000.0), ("86400", 86400.0)],
)
def test_numbers(name: str, raw: str, expected: float) -> None:
    s = settings(AUTH_ISSUER=OIDC, **{name: raw})
    assert (s.decision_cache_ttl if name == "DECISION_CACHE_TTL" else s.leeway) == expected


@pytest.mark.parametrize(("name", "default"), [("DECISION_CACHE_TTL", 60.0), ("AUTH_LEEWAY", 5.0)])
@pytest.mark.parametrize("raw", ["", "  "])
def test_blank_number_is_the_default(name: str, default: float, raw: str) -> None:
    s = settings(AUTH_ISSUER=OIDC, **{name: raw})
    assert (s.decision_cache_ttl if name == "DECISION_CACHE_TTL" else s.leeway) == default


@pytest.mark.parametrize("name", ["DECISION_CACHE_TTL", "AUTH_LEEWAY"])
@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("sixty", "must be a number of seconds"),
        ("60s", "must be a number of seconds"),
        ("1,5", "must be a number of seconds"),
        ("-1", "must be between 0 and 86400"),
        ("86401", "must be between 0 and 86400"),
        ("nan", "must be between 0 and 86400"),
        ("inf", "must be between 0 and 86400"),
    ],
)
def test_bad_numbers(name: str, raw: str, says: str) -> None:
    message = refused(AUTH_ISSUER=OIDC, **{name: raw})
    assert message.startswith(f"{name} {says}")
    assert repr(raw) in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" ON ", True), ("0", False), ("FALSE", False),
     ("no", False), ("off", False), ("", True), (" ", True)],
)  # fmt: skip
def test_flags(raw: str, expected: bool) -> None:
    assert (
        settings(AUTH_ISSUER=OIDC, HTTP_API_SIMPLE_RESPONSES=raw).http_simple_responses is expected
    )


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "t"])
def test_bad_flags(raw: str) -> None:
    message = refused(AUTH_ISSUER=OIDC, HTTP_API_SIMPLE_RESPONSES=raw)
    assert message == f"HTTP_API_SIMPLE_RESPONSES must be true or false, not {raw!r}"


@pytest.mark.parametrize(
    ("raw", "expected"), [("access", "access"), ("ID", "id"), (" any ", "any")]
)
def test_token_use(raw: str, expected: str) -> None:
    found = settings(AUTH_ISSUER=OIDC, AUTH_TOKEN_USE=raw, AUTH_CLIENT_IDS="spa")
    assert found.token_use == expected


@pytest.mark.parametrize("use", ["id", "any"])
def test_id_tokens_from_any_application_are_said_loudly(
    use: str, caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §2 makes AUTH_CLIENT_IDS optional for an OIDC issuer; accepting every
    application's ID tokens is then logged, not silent."""
    assert settings(AUTH_ISSUER=OIDC, AUTH_TOKEN_USE=use).token_use == use
    assert "any application's ID token" in caplog.text


@pytest.mark.parametrize("raw", ["refresh", "id,access", "both"])
def test_bad_token_use(raw: str) -> None:
    message = refused(AUTH_ISSUER=OIDC, AUTH_TOKEN_USE=raw)
    assert message.startswith("AUTH_TOKEN_USE must be access, id or any")


@pytest.mark.parametrize("name", ["AUTH_JWKS_URL", "CEDAR_POLICY_DIR", "AUTH_AUDIENCE"])
def test_empty_optional_values_mean_the_default(name: str) -> None:
    assert settings(AUTH_ISSUER=OIDC, **{name: ""}) == settings(AUTH_ISSUER=OIDC)


def test_settings_are_frozen() -> None:
    s = settings(AUTH_ISSUER=OIDC)
    with pytest.raises(AttributeError):
        s.issuer = "https://other.example"  # type: ignore[misc]


def test_schema_and_entities_are_given_found_or_explicitly_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        settings(AUTH_ISSUER=OIDC, CEDAR_SCHEMA="none", CEDAR_ENTITIES="None").schema_path is None
    )
    assert settings(AUTH_ISSUER=OIDC, CEDAR_ENTITIES="none").entities_path is None
    given = settings(AUTH_ISSUER=OIDC, CEDAR_SCHEMA="s.cedarschema", CEDAR_ENTITIES="e.json")
    assert (given.schema_path, given.entities_path) == (Path("s.cedarschema"), Path("e.json"))
    monkeypatch.chdir(tmp_path)  # no ./schemas, no ./entities: nothing to find
    found = settings(AUTH_ISSUER=OIDC)
    assert (found.schema_path, found.entities_path) == (None, None)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "a.cedarschema").write_text("")
    (tmp_path / "schemas" / "b.cedarschema.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds 2 schemas"):
        settings(AUTH_ISSUER=OIDC)


def test_a_tenant_claim_without_any_bundle_is_refused() -> None:
    """With CEDAR_POLICY_BUNDLE misspelt, every tenant was silently decided by the packaged
    policies."""
    message = refused(AUTH_ISSUER=OIDC, CEDAR_TENANT_CLAIM="tenant", CEDAR_POLICY_BUNDLES="x")
    assert message.startswith("CEDAR_TENANT_CLAIM is set but no policy bundle has {tenant}")
    # A fixed bundle without {tenant} names no tenant's either.
    fixed = refused(AUTH_ISSUER=OIDC, CEDAR_TENANT_CLAIM="tenant", CEDAR_POLICY_BUNDLE="b.json")
    assert fixed.startswith("CEDAR_TENANT_CLAIM is set but no policy bundle has {tenant}")


def test_one_issuers_tenant_bundles_beside_a_fixed_bundle_for_the_others_start(
    tmp_path: Path,
) -> None:
    """Pool A's bundles per tenant, pool B on CEDAR_POLICY_BUNDLE (no {tenant}): refused at
    start, because the tenant claim was checked against CEDAR_POLICY_BUNDLE alone."""
    import json  # noqa: PLC0415

    issuers = [
        {"issuer": "https://a.example.com", "entity_id_prefix": "a",
         "policy_bundle": str(tmp_path / "a-{tenant}.json")},
        {"issuer": "https://b.example.com", "entity_id_prefix": "b"},
    ]  # fmt: skip
    found = settings(AUTH_ISSUERS=json.dumps(issuers), CEDAR_TENANT_CLAIM="tenant",
                     CEDAR_POLICY_BUNDLE=str(tmp_path / "shared.json"))  # fmt: skip
    assert found.bundle.tenant_claim == "tenant"


def test_with_a_bundle_for_everyone_the_packaged_defaults_are_not_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle replaces CEDAR_SCHEMA and CEDAR_ENTITIES: two schemas in ./schemas refused to
    start an authorizer that would never read either."""
    for folder, names in (("schemas", ("a.cedarschema", "b.cedarschema")),
                          ("entities", ("a.json", "b.json"))):  # fmt: skip
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert "2 schemas" in refused(AUTH_ISSUER=OIDC)
    found = settings(AUTH_ISSUER=OIDC, CEDAR_POLICY_BUNDLE="s3://b/k.json")
    assert (found.schema_path, found.entities_path) == (None, None)
    issuers = json.dumps([{"issuer": OIDC, "policy_bundle": "s3://b/k.json"}])
    assert settings(AUTH_ISSUERS=issuers).schema_path is None


@pytest.mark.parametrize("url", ["https://bundles.example.com/b.json", "file:///tmp/b.json"])
def test_a_bundle_url_of_another_scheme_is_refused(url: str) -> None:
    """Read as a local path, an https:// bundle failed every request (or, with {tenant}, denied
    every tenant as having no bundle)."""
    assert "local path or s3://" in refused(AUTH_ISSUER=OIDC, CEDAR_POLICY_BUNDLE=url)


def test_an_entities_file_left_unread_is_warned_of_where_the_lambda_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before this stop an unset CEDAR_ENTITIES took ./entities/*.json: an upgrade must not lose
    the store without a word. Not where a DynamoDB store or a bundle stands in for it, and not
    from the settings alone (the authoring CLI reads them too, and reads the file)."""
    from authorizer.config import warn_of_unread_entities  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "app.json").write_text("[]")
    for env, warned in (({}, True), ({"CEDAR_ENTITIES": "none"}, False),
                        ({"ENTITY_STORE_TABLE": "t"}, False),
                        ({"CEDAR_POLICY_BUNDLE": "s3://b/k.json"}, False)):  # fmt: skip
        caplog.clear()
        full = {"AUTH_ISSUER": OIDC, **env}
        warn_of_unread_entities(full, settings(**full))
        assert ("is not read: CEDAR_ENTITIES is unset" in caplog.text) is warned, env
        caplog.clear()
        settings(**full)
        assert "is not read" not in caplog.text
