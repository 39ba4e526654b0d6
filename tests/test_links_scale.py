"""Template links at scale: entity UIDs in their plain text form are read without Cedar, exactly
as Cedar reads them; linked policies are validated together (in groups by action), with the
messages validating each link alone gives."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.cedar import uids
from authorizer.cedar.links import (
    TemplateLink,
    link_templates,
    link_validation_errors,
    linked_sources,
)
from authorizer.cedar.policies import PolicySource, load_policies
from tests.test_index_equivalence import MODEL

SCHEMA = MODEL.cedar
assert SCHEMA is not None


def cedar_reads(text: str) -> object:
    """What Cedar makes of ``text`` as a UID (the slow path on its own), or "refused"."""
    try:
        return uids._parse_text(f" {text}")  # a leading space: never the plain form
    except uids.UidError:
        return "refused"


def ours(text: str) -> object:
    try:
        return uids._parse_text(text)
    except uids.UidError:
        return "refused"


NAMES = st.sampled_from(["A", "Corp", "User", "_x", "a1", "in", "true", "is", "if", "__cedar",
                         "1a", "é", "Action", "a b"])  # fmt: skip
IDS = st.one_of(
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(['"x"', '""', '"a\\"b"', '"\\u{41}"', '"tab\t"', '"x\\"', "x", '"\x7f"']),
)


@settings(max_examples=400, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=3), sep=st.sampled_from(["::", ":: ", ":"]),
       ident=IDS)  # fmt: skip
def test_plain_uids_are_read_as_cedar_reads_them(names: list[str], sep: str, ident: str) -> None:
    text = "::".join(names) + sep + ident
    assert ours(text) == cedar_reads(text)


def per_link(sources: list[PolicySource]) -> list[tuple[str, str]]:
    """The reference: each linked policy rendered and validated alone, as before."""
    found = []
    for source in sources:
        document = {"staticPolicies": {"policy0": source.json}, "templates": {},
                    "templateLinks": []}  # fmt: skip
        text = cedarpy.policies_from_json_str(json.dumps(document))
        for error in cedarpy.validate_policies(text, SCHEMA).errors:
            found.append((source.id, error.error.replace("`policy0`", f"`{source.id}`")))
    return found


TEMPLATES = """
@id("t0")
permit (principal == ?principal, action == T::Action::"a1", resource in ?resource);
@id("t1")
permit (principal in ?principal, action in T::Action::"ag2", resource) when { principal.n > 1 };
@id("t2")
forbid (principal is T::U in ?principal, action, resource == T::R::"r1");
@id("t3")
permit (principal, action in [T::Action::"a4", T::Action::"a5"], resource in ?resource)
  when { resource.n > 0 };
@id("static")
permit (principal, action, resource);
"""
VALUES: dict[str, list[dict[str, Any]]] = {
    "?principal": [{"type": t, "id": "x"} for t in ("T::U", "T::G", "T::F", "T::R", "T::V")],
    "?resource": [{"type": t, "id": "y"} for t in ("T::F", "T::R", "T::S", "T::U")],
}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 3)), max_size=30))
def test_links_validated_together_as_each_alone(picked: list[tuple[int, int, int]]) -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "t.cedar").write_text(TEMPLATES)
    policies = load_policies(folder)
    links = []
    for number, (template, principal, resource) in enumerate(picked):
        slots = {"t0": ["?principal", "?resource"], "t1": ["?principal"], "t2": ["?principal"],
                 "t3": ["?resource"]}[f"t{template}"]  # fmt: skip
        picks = {"?principal": principal, "?resource": resource}
        values = {slot: VALUES[slot][picks[slot] % len(VALUES[slot])] for slot in slots}
        links.append(TemplateLink(f"t{template}", f"link{number}", values, 0))
    linked = link_templates(policies, links, folder / "links.json")
    expected = per_link(linked_sources(linked))
    for model in (None, MODEL):
        found = [(s.id, m) for s, m in link_validation_errors(linked, SCHEMA, model)]
        assert sorted(found) == sorted(expected)


def test_a_plain_uid_is_read_without_cedar(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_text: str) -> str:
        raise AssertionError("Cedar asked for a plain UID")

    monkeypatch.setattr(uids.cedarpy, "policies_to_json_str", refuse)
    assert uids.parse_uid('Corp::User::"alice"') == {"type": "Corp::User", "id": "alice"}
    assert uids.parse_uid('App::Doc::"a b/é"') == {"type": "App::Doc", "id": "a b/é"}


def test_links_are_validated_in_one_call_per_action_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.cedar").write_text(TEMPLATES)
    policies = load_policies(tmp_path)
    links = [TemplateLink("t0", f"l{n}", {"?principal": VALUES["?principal"][n % 5],
                                          "?resource": VALUES["?resource"][n % 4]}, 0)
             for n in range(60)]  # fmt: skip
    linked = link_templates(policies, links, tmp_path / "links.json")
    expected = per_link(linked_sources(linked))
    calls: list[str] = []
    real = cedarpy.validate_policies

    def counting(text: str, schema: object, **kwargs: object) -> object:
        calls.append(text)
        return real(text, schema, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cedarpy, "validate_policies", counting)
    found = [
        (source.id, message) for source, message in link_validation_errors(linked, SCHEMA, MODEL)
    ]
    assert len(calls) == 1  # all 60 links are on a1: one group, one call
    assert sorted(found) == sorted(expected)
    assert 0 < len({policy for policy, _ in found}) < 60  # some links fit the schema, some not
