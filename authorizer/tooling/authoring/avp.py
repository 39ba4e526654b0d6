"""Our policies as Amazon Verified Permissions resources (pure: policies and schema in, a
CloudFormation template out), so a user can move a policy folder to AVP as it is.

One ``AWS::VerifiedPermissions::PolicyStore`` (strict validation with the schema, or none
without one), one ``::Policy`` per static policy, one ``::PolicyTemplate`` per template and one
template-linked ``::Policy`` per link. Each statement is Cedar's own rendering of the policy (its
annotations included), so what AVP stores is what we evaluate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import cedarpy

from authorizer.cedar.policies import LoadedPolicies, PolicySource, statements
from authorizer.errors import PolicyError

# AVP's limits on a statement and a description (CloudFormation's resource specification).
MAX_STATEMENT = 10_000
MAX_DESCRIPTION = 150
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_SLOTS = (("?principal", "Principal"), ("?resource", "Resource"))
Template = dict[str, Any]


def avp_template(policies: LoadedPolicies, schema_json: Mapping[str, Any] | None) -> Template:
    store: dict[str, Any] = {
        "Description": "Exported by cedar-authz export-avp",
        "ValidationSettings": {"Mode": "STRICT" if schema_json is not None else "OFF"},
    }
    if schema_json is not None:
        store["Schema"] = {"CedarJson": json.dumps(schema_json, separators=(",", ":"))}
    resources: dict[str, Any] = {
        "PolicyStore": {"Type": "AWS::VerifiedPermissions::PolicyStore", "Properties": store}
    }
    store_id = {"Fn::GetAtt": ["PolicyStore", "PolicyStoreId"]}
    names = _LogicalIds(resources)
    links = policies.document.get("templateLinks", [])
    linked = {link["newId"] for link in links}
    templates: dict[str, str] = {}
    for source in policies.sources.values():
        if source.id in linked:
            continue
        statement = _statement(policies, source)
        if source.is_template:
            name = templates[source.id] = names.new("Template", source.id)
            resources[name] = {
                "Type": "AWS::VerifiedPermissions::PolicyTemplate",
                "Properties": {"PolicyStoreId": store_id, "Statement": statement,
                               "Description": _description(source.id)},
            }  # fmt: skip
        else:
            static = {"Statement": statement, "Description": _description(source.id)}
            resources[names.new("Policy", source.id)] = {
                "Type": "AWS::VerifiedPermissions::Policy",
                "Properties": {"PolicyStoreId": store_id, "Definition": {"Static": static}},
            }
    for link in links:
        definition: dict[str, Any] = {
            "PolicyTemplateId": {"Fn::GetAtt": [templates[link["templateId"]], "PolicyTemplateId"]}
        }
        for slot, key in _SLOTS:
            uid = link["values"].get(slot)
            if uid is not None:
                definition[key] = {"EntityType": uid["type"], "EntityId": uid["id"]}
        resources[names.new("Policy", link["newId"])] = {
            "Type": "AWS::VerifiedPermissions::Policy",
            "Properties": {"PolicyStoreId": store_id, "Definition": {"TemplateLinked": definition}},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Amazon Verified Permissions policy store (cedar-authz export-avp)",
        "Resources": resources,
        "Outputs": {"PolicyStoreId": {"Value": store_id}},
    }


def _statement(policies: LoadedPolicies, source: PolicySource) -> str:
    """A static policy as Cedar renders its JSON; a template as its file has it (cedarpy renders
    no templates), from its first line of code to its `;`."""
    if source.is_template:
        text = policies.files[source.file]
        # Its statement by position in the file (Cedar's id says it: two statements may share
        # a line), checked against the line it starts on.
        listed = statements(text)
        position = source.cedar_id.removeprefix("policy")
        index = int(position) if position.isdigit() else len(listed)
        if index >= len(listed) or listed[index][0] != source.line:
            raise PolicyError(f"{source.file}:{source.line}: template {source.id!r} not found")
        kept = listed[index][1].splitlines()
        while kept and (not kept[0].strip() or kept[0].lstrip().startswith("//")):
            kept.pop(0)
        text = "\n".join(kept).strip()
    else:
        document = {"staticPolicies": {"p": source.json}, "templates": {}, "templateLinks": []}
        text = cedarpy.policies_from_json_str(json.dumps(document)).strip()
    if len(text) > MAX_STATEMENT:  # refused, never cut: a shortened policy is another policy
        raise PolicyError(
            f"{source.file}:{source.line}: policy {source.id!r} is {len(text)} characters, "
            f"more than the {MAX_STATEMENT} AVP stores"
        )
    return text


def _description(policy_id: str) -> str:
    return (
        policy_id if len(policy_id) <= MAX_DESCRIPTION else policy_id[: MAX_DESCRIPTION - 3] + "..."
    )


class _LogicalIds:
    """CloudFormation logical ids (alphanumeric, unique) that still show the policy's id."""

    def __init__(self, taken: Mapping[str, Any]) -> None:
        self._taken = set(taken)

    def new(self, kind: str, policy_id: str) -> str:
        base = kind + "".join(p[:1].upper() + p[1:] for p in _NOT_ALPHANUMERIC.split(policy_id))
        base = base[:200]
        name, number = base, 2
        while name in self._taken:
            name, number = f"{base}{number}", number + 1
        self._taken.add(name)
        return name
