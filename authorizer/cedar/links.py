"""Template-linked policies, loaded from a links file in the Cedar CLI's format:

    [{"template_id": "invoice-viewer", "link_id": "fiona-inv-001",
      "args": {"?principal": "Corp::User::\\"fiona\\"",
               "?resource": "Corp::Invoice::\\"inv-001\\""}}]

``template_id`` names a template by its ``@id`` (the policy ids of ``load_policies``); ``args``
fill every slot the template has, with UIDs in Cedar's text form or as ``{"type", "id"}``. An
empty file holds no links. The links go into the policy set's Cedar JSON (``templateLinks``), so
``LoadedPolicies.policy_set()`` builds the linked set unchanged and decisions name a linked
policy by its ``link_id``. Every mistake is a ``PolicyError`` naming the file and the line:
cedarpy itself only says "unable to link template".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from authorizer.cedar.policies import LoadedPolicies, PolicySource
from authorizer.cedar.schema import SchemaModel
from authorizer.cedar.uids import Uid, UidError, parse_uid
from authorizer.cedar.validation import validate_rendered
from authorizer.errors import PolicyError
from authorizer.strict_json import no_duplicate_keys

LINKS_ENV = "CEDAR_TEMPLATE_LINKS"
SLOTS = ("?principal", "?resource")
MAX_LINKS_FILE_BYTES = 8 * 1024 * 1024
_LINK_ID_KEY = re.compile(r'"link_id"\s*:')


@dataclass(frozen=True)
class TemplateLink:
    template_id: str
    link_id: str
    values: Mapping[str, Uid]  # slot -> entity UID
    line: int  # of the link in its file, for messages (0: unknown)


def load_links(path: Path) -> list[TemplateLink]:
    try:
        if path.stat().st_size > MAX_LINKS_FILE_BYTES:
            raise PolicyError(f"{path}: larger than {MAX_LINKS_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such template links file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"{path}: cannot be read: {error}") from None
    return parse_links(text, str(path))


def parse_links(text: str, source: str = "links") -> list[TemplateLink]:
    if not text.strip():
        return []
    try:
        document = json.loads(text, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise PolicyError(f"{source}:{error.lineno}: invalid JSON: {error.msg}") from None
    except ValueError as error:  # a key given twice: a second `template_id` would win
        raise PolicyError(f"{source}: {error}") from None
    except RecursionError:
        raise PolicyError(f"{source}: JSON nested too deeply") from None
    if not isinstance(document, list):
        raise PolicyError(f"{source}: a JSON list of template links is expected")
    lines = _lines_of(text, (m.start() for m in _LINK_ID_KEY.finditer(text)))
    links: list[TemplateLink] = []
    for index, item in enumerate(document):
        line = lines[index] if index < len(lines) else 0
        links.append(_link(item, f"{source}:{line}" if line else f"{source}[{index}]", line))
    return links


def _lines_of(text: str, positions: Iterable[int]) -> list[int]:
    """The 1-based line of each of the (increasing) ``positions``, counted in one pass."""
    found: list[int] = []
    line, counted = 1, 0
    for position in positions:
        line += text.count("\n", counted, position)
        counted = position
        found.append(line)
    return found


def _link(item: object, where: str, line: int) -> TemplateLink:
    if not isinstance(item, dict):
        raise PolicyError(f"{where}: a link is an object with template_id, link_id and args")
    for key in ("template_id", "link_id"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise PolicyError(f"{where}: `{key}` must be a non-empty string")
    args = item.get("args")
    if not isinstance(args, dict):
        raise PolicyError(f"{where}: `args` must be an object of slots (?principal, ?resource)")
    values: dict[str, Uid] = {}
    for slot, value in args.items():
        if slot not in SLOTS:
            raise PolicyError(f"{where}: invalid slot `{slot}`: expected ?principal or ?resource")
        try:
            values[slot] = parse_uid(value)
        except UidError as error:
            raise PolicyError(f"{where}: `{slot}` of link `{item['link_id']}`: {error}") from None
    return TemplateLink(item["template_id"], item["link_id"], values, line)


def template_slots(template: Mapping[str, Any]) -> set[str]:
    return {s for part in ("principal", "resource") for s in _slots_in(template.get(part))}


def _slots_in(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["slot"]] if isinstance(node.get("slot"), str) else []
        return found + [s for v in node.values() for s in _slots_in(v)]
    if isinstance(node, list):
        return [s for v in node for s in _slots_in(v)]
    return []


def instantiate(template: Mapping[str, Any], values: Mapping[str, Uid]) -> dict[str, Any]:
    """The template's Cedar JSON with each slot replaced by its entity (a static policy). The
    scopes are rebuilt; the rest (conditions, annotations) is the template's own, shared and
    never changed (a deep copy per link cost 60 us: 10,000 links, 0.6 s of cold start)."""
    policy = dict(template)
    for part in ("principal", "resource"):
        policy[part] = _fill(policy.get(part), values)
    return policy


def _fill(node: Any, values: Mapping[str, Uid]) -> Any:
    if isinstance(node, dict):
        if isinstance(node.get("slot"), str):
            rest = {k: v for k, v in node.items() if k != "slot"}
            return {**rest, "entity": dict(values[node["slot"]])}
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    return node


def link_templates(
    policies: LoadedPolicies, links: Sequence[TemplateLink], source: Path
) -> LoadedPolicies:
    """``policies`` with ``links`` added: in the Cedar JSON document and as policy sources."""
    if not links:
        return policies
    sources = dict(policies.sources)
    entries: list[dict[str, Any]] = []
    for link in links:
        where = f"{source}:{link.line}" if link.line else str(source)
        template = sources.get(link.template_id)
        if template is None or not template.is_template:
            known = sorted(s.id for s in policies.sources.values() if s.is_template)
            what = "is a static policy, not a template" if template else "names no template"
            raise PolicyError(
                f"{where}: link `{link.link_id}`: template_id `{link.template_id}` {what}"
                f" (templates: {', '.join(known) or 'none'})"
            )
        if link.link_id in sources:
            other = sources[link.link_id]
            raise PolicyError(
                f"{where}: link_id `{link.link_id}` is already the id of a policy "
                f"({other.file}:{other.line})"
            )
        slots = template_slots(template.json)
        if set(link.values) != slots:
            raise PolicyError(
                f"{where}: link `{link.link_id}`: template `{link.template_id}` has slots "
                f"{', '.join(sorted(slots)) or 'none'}; the link fills "
                f"{', '.join(sorted(link.values)) or 'none'}"
            )
        sources[link.link_id] = PolicySource(
            link.link_id, source, link.line, link.link_id, False,
            instantiate(template.json, link.values),
        )  # fmt: skip
        entries.append(
            {"templateId": link.template_id, "newId": link.link_id,
             "values": {slot: dict(uid) for slot, uid in link.values.items()}}
        )  # fmt: skip
    document = {**policies.document, "templateLinks": entries}
    try:
        cedarpy.PolicySet.from_json_str(json.dumps(document))
    except ValueError as error:
        raise PolicyError(f"{source}: Cedar refuses the template links: {error}") from None
    digest = hashlib.sha256(f"{policies.version}\0{json.dumps(entries)}".encode()).hexdigest()
    return policies._replace(sources=sources, document=document, version=digest[:16])


def with_template_links(policies: LoadedPolicies, path: Path | None) -> LoadedPolicies:
    """The one call the engine needs: link the templates from ``path`` (no path: unchanged)."""
    return policies if path is None else link_templates(policies, load_links(path), path)


def linked_sources(policies: LoadedPolicies) -> list[PolicySource]:
    linked = {entry["newId"] for entry in policies.document.get("templateLinks", [])}
    return [s for s in policies.sources.values() if s.id in linked]


def link_validation_errors(
    policies: LoadedPolicies, schema: cedarpy.Schema, model: SchemaModel | None = None
) -> list[tuple[PolicySource, str]]:
    """Strict validation of each linked policy: its filled-in slots must fit the schema too.
    Each is rendered on its own (Cedar's text of its JSON), then all are validated together, in
    groups by action with the schema's ``model`` (``validation.validate_rendered``): one Cedar
    call per group, not per link."""
    errors: list[tuple[PolicySource, str]] = []
    rendered: list[tuple[PolicySource, str]] = []
    for source in linked_sources(policies):
        document = {
            "staticPolicies": {"policy0": source.json},
            "templates": {},
            "templateLinks": [],
        }
        try:
            rendered.append((source, cedarpy.policies_from_json_str(json.dumps(document))))
        except ValueError as error:
            errors.append((source, f"cannot be rendered for validation: {error}"))
    return errors + validate_rendered(rendered, schema, model)


def template_of(policies: LoadedPolicies, policy_id: str) -> str | None:
    """The template a linked policy was made from (None: not a linked policy)."""
    for entry in policies.document.get("templateLinks", []):
        if entry.get("newId") == policy_id:
            return str(entry.get("templateId"))
    return None
