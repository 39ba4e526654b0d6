"""Policy bundles: everything a decision needs in one JSON object, so policies can change
without a deploy (`cedar-authz bundle` writes one; ``CEDAR_POLICY_BUNDLE`` points at one).

The object: ``format``; ``version`` (a digest of the rest: every decision log line, authorizer
context and cache key carries it); ``policies`` (file name -> Cedar text); ``schema`` (Cedar's
JSON format, or null); ``links`` (the Cedar CLI's template links, or null); ``entities`` (Cedar
JSON entities, or null). Pure: bytes in, an ``Engine`` out; a bundle whose digest does not match
its content, that does not parse or whose policies do not validate is refused whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from authorizer.cedar.engine import Engine
from authorizer.cedar.links import link_templates, parse_links
from authorizer.cedar.policies import LoadedPolicies, load_policies
from authorizer.cedar.schema import SchemaModel, model_from_json
from authorizer.errors import PolicyError
from authorizer.strict_json import no_duplicate_keys

FORMAT = "cedar-authz/bundle/1"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # far past 100,000 policies; more is a mistake or hostile
_ROOT = Path("bundle")  # policy files are named relative to it in messages: bundle/<file>
_CONTENT = ("policies", "schema", "links", "entities")


def bundle_version(content: Mapping[str, Any]) -> str:
    """The digest of a bundle's content (its canonical JSON): its version."""
    canonical = json.dumps({k: content.get(k) for k in _CONTENT}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def make_bundle(
    policies: Mapping[str, str],
    schema: Mapping[str, Any] | None,
    links: str | None = None,
    entities: list[Any] | None = None,
) -> dict[str, Any]:
    """A bundle of these inputs (the caller has validated them: ``engine_of`` checks again)."""
    content: dict[str, Any] = {
        "policies": dict(sorted(policies.items())),
        "schema": schema,
        "links": links,
        "entities": entities,
    }
    return {"format": FORMAT, "version": bundle_version(content), **content}


def read_bundle(data: bytes, source: str) -> dict[str, Any]:
    """The bundle in ``data``, its shape and digest checked. Raises ``PolicyError``."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise PolicyError(f"{source}: larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        # A key given twice is refused, as Cedar refuses it in an entities file: the last one
        # taken (`"parents": [..], "parents": []`) took an entity out of a forbid's group.
        bundle = json.loads(data, object_pairs_hook=no_duplicate_keys)
    except (ValueError, RecursionError) as error:
        raise PolicyError(f"{source}: not a JSON bundle: {error}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise PolicyError(f"{source}: not a {FORMAT} bundle")
    policies = bundle.get("policies")
    if not isinstance(policies, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in policies.items()
    ):
        raise PolicyError(f"{source}: `policies` must map file names to Cedar text")
    for name in ("schema", "links", "entities"):
        expected = {"schema": dict, "links": str, "entities": list}[name]
        if bundle.get(name) is not None and not isinstance(bundle[name], expected):
            raise PolicyError(f"{source}: `{name}` must be a {expected.__name__} or null")
    if bundle.get("version") != bundle_version(bundle):
        raise PolicyError(f"{source}: its version does not match its content (damaged?)")
    return bundle


def engine_of(bundle: Mapping[str, Any], source: str) -> Engine:
    """The engine of a bundle ``read_bundle`` returned: its policies parsed, linked and
    validated strictly against its schema (``PolicyError``/``SchemaError`` otherwise)."""
    policies = bundle_policies(bundle, source)
    schema = bundle_schema(bundle, source)
    entities = json.dumps(bundle["entities"]) if bundle.get("entities") is not None else "[]"
    # As Engine.load builds the runtime's: a request with no candidate permit is denied without
    # calling Cedar (a forbid alone never allows).
    engine = Engine(policies, schema, entities, f"{source} entities", deny_without_permit=True)
    engine.version = str(bundle["version"])
    return engine


def bundle_policies(bundle: Mapping[str, Any], source: str, root: Path = _ROOT) -> LoadedPolicies:
    """The bundle's policies, their files named under ``root`` in messages (``bundle/<file>``;
    the folder they were read from, where ``cedar-authz bundle`` makes the bundle)."""
    texts = {root / name: text for name, text in bundle["policies"].items()}
    policies = load_policies(root, texts)
    if bundle.get("links"):
        policies = link_templates(policies, parse_links(bundle["links"], f"{source} links"),
                                  Path(f"{source} links"))  # fmt: skip
    return policies


def bundle_schema(bundle: Mapping[str, Any], source: str) -> SchemaModel | None:
    schema = bundle.get("schema")
    return model_from_json(schema, source=f"{source} schema") if schema is not None else None
