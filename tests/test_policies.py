"""authorizer.cedar.policies: *.cedar files -> one policy set whose ids are the policies' @ids.

A file that does not parse names its file and the line of the failing policy; a duplicate @id
names both places; a policy without @id is `<file>:<line>`; no policies at all is refused."""

from __future__ import annotations

import json
from pathlib import Path

import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.cedar import policies
from authorizer.cedar.policies import load_policies, parse_file, statements
from authorizer.errors import PolicyError

ALLOW = "permit (principal, action, resource);"


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refusal(directory: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policies(directory)
    return str(caught.value)


def decide(loaded: policies.LoadedPolicies, user: str) -> cedarpy.AuthzResult:
    request = {
        "principal": {"type": "User", "id": user},
        "action": {"type": "Action", "id": "read"},
        "resource": {"type": "Doc", "id": "d"},
        "context": {},
    }
    return cedarpy.is_authorized(request, loaded.policy_set(), [])


# --- statements ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALLOW, [(1, ALLOW)]),
        (f"{ALLOW}\n\n{ALLOW}\n", [(1, ALLOW), (3, f"\n\n{ALLOW}")]),
        (f"{ALLOW} {ALLOW}", [(1, ALLOW), (1, f" {ALLOW}")]),
        (
            'permit (principal, action, resource) when { context.s == "a;b" };',
            [(1, 'permit (principal, action, resource) when { context.s == "a;b" };')],
        ),
        (
            r'permit (principal, action, resource) when { context.s == "q\";x\\" };',
            [(1, r'permit (principal, action, resource) when { context.s == "q\";x\\" };')],
        ),
        (
            'permit (principal, action, resource) when { context.u == "http://x;y" };',
            [(1, 'permit (principal, action, resource) when { context.u == "http://x;y" };')],
        ),
        (f"// one; two\n{ALLOW}", [(2, f"// one; two\n{ALLOW}")]),
        (f'// it\'s "odd\n{ALLOW}', [(2, f'// it\'s "odd\n{ALLOW}')]),
        (
            f"{ALLOW} // trailing; comment\n// last words;\n",
            [(1, ALLOW)],
        ),
        (
            "@id(\"x;y\")\npermit (\n  principal,\n  action, // a; b\n  resource\n);",
            [(1, "@id(\"x;y\")\npermit (\n  principal,\n  action, // a; b\n  resource\n);")],
        ),
        ("permit (principal, action, resource)", [(1, "permit (principal, action, resource)")]),
        ("  \n// only a comment; here\n\n", []),
        ("", []),
    ],
    ids=["one", "two on lines 1 and 3", "two on a line", "; in a string", "escaped quote",
         "// in a string", "; in a comment", "quote in a comment", "trailing comments",
         "multi-line", "no final ;", "only comments", "empty"],
)  # fmt: skip
def test_statements(text: str, expected: list[tuple[int, str]]) -> None:
    assert statements(text) == expected


def _cedar_string(raw: str) -> str:
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


TRICKY = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(';"\\/'),
    max_size=12,
)


@st.composite
def policy_files(draw: st.DrawFn) -> tuple[str, list[int]]:
    """A file of policies whose strings and comments hold `;`, quotes, backslashes and `//`,
    and the line each policy starts on."""
    parts: list[str] = []
    starts: list[int] = []
    for index in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            parts.append(f"// {draw(TRICKY)}\n")
        starts.append("".join(parts).count("\n") + 1)
        value = _cedar_string(draw(TRICKY))
        comment = f" // {draw(TRICKY)}" if draw(st.booleans()) else ""
        parts.append(
            f"@id({_cedar_string(f'p{index}')})\n"
            f"permit (principal, action, resource){comment}\n"
            f"when {{ context.s == {value} }};\n"
        )
    return "".join(parts), starts


@settings(max_examples=150, deadline=None)
@given(policy_files())
def test_statements_split_where_cedar_does(generated: tuple[str, list[int]]) -> None:
    text, starts = generated
    found = statements(text)
    assert [line for line, _ in found] == starts
    joined = "".join(chunk for _, chunk in found)
    assert text.startswith(joined) and text[len(joined) :].strip() == ""
    for _, chunk in found:
        assert len(json.loads(cedarpy.policies_to_json_str(chunk))["staticPolicies"]) == 1
    ids = [s.id for s in parse_file(Path("gen.cedar"), text)]
    assert ids == [f"p{i}" for i in range(len(starts))]


# --- parse_file ----------------------------------------------------------------------------------

MIXED = """\
// A file with every kind of policy.
@id("admins-read")
permit (principal in Group::"admins", action, resource);

permit (principal == User::"bob", action, resource);

@id("owner-template")
permit (principal == ?principal, action, resource == ?resource);

@id("")
forbid (principal == User::"eve", action, resource);
"""


def test_parse_file_names_and_places_every_policy() -> None:
    found = parse_file(Path("/policies/mixed.cedar"), MIXED)
    summary = [(s.id, s.line, s.cedar_id, s.is_template) for s in found]
    assert summary == [
        ("admins-read", 2, "policy0", False),
        ("mixed.cedar:5", 5, "policy1", False),
        ("owner-template", 7, "policy2", True),
        ("mixed.cedar:10", 10, "policy3", False),  # an empty @id is no name
    ]
    assert all(s.file == Path("/policies/mixed.cedar") for s in found)
    assert found[0].json["annotations"] == {"id": "admins-read"}
    assert found[2].json["principal"] == {"op": "==", "slot": "?principal"}
    assert found[3].json["effect"] == "forbid"


def test_parse_file_of_comments_only_is_empty() -> None:
    assert parse_file(Path("c.cedar"), "// nothing; here\n") == []


BROKEN = [
    # (text, line of the failing policy)
    ("permit (principal, action, resource) when { 1 + };", 1),
    (f"{ALLOW}\n\n@id(\"b\")\nforbid (principal, action, resource)\nwhen {{ 1 + }};\n", 3),
    (f'// header; with "quotes\n{ALLOW}\n@id("c")\npermit (principal, action, resource) when {{ context.s == "x;y" && }};\n{ALLOW}', 3),
    (f"{ALLOW}\n{ALLOW}\nnonsense", 3),
    (f"{ALLOW}\npermit (principal, action, resource) when {{ \"unterminated }};\n", 2),
    (f"{ALLOW}\npermit (principal, action);\n", 2),
    ("@id(\"a\") @id(\"b\") permit (principal, action, resource);", 1),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line"), BROKEN)
def test_parse_error_names_file_and_line(text: str, line: int) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_file(Path("/policies/broken.cedar"), text)
    message = str(caught.value)
    assert message.startswith(f"/policies/broken.cedar:{line}: policy does not parse: ")
    assert len(message) > len(f"/policies/broken.cedar:{line}: policy does not parse: ")


def test_parse_error_in_one_file_of_many_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "a.cedar", ALLOW)
    bad = write(
        tmp_path, "b.cedar", f"{ALLOW}\n\n\npermit (principal, action, resource) when {{ }};"
    )
    write(tmp_path, "c.cedar", ALLOW)
    assert refusal(tmp_path).startswith(f"{bad}:4: policy does not parse: ")


# --- load_policies -------------------------------------------------------------------------------


def test_load_policies_builds_one_set_keyed_by_id(tmp_path: Path) -> None:
    write(tmp_path, "mixed.cedar", MIXED)
    write(
        tmp_path,
        "nested/deny.cedar",
        '// deny\n@id("deny-eve")\nforbid (principal == User::"eve", action, resource);',
    )
    write(tmp_path, "README.md", "not a policy;")
    write(tmp_path, "notes.cedar.bak", "garbage")
    loaded = load_policies(tmp_path)

    assert set(loaded.sources) == {
        "admins-read",
        "mixed.cedar:5",
        "owner-template",
        "mixed.cedar:10",
        "deny-eve",
    }
    assert loaded.sources["deny-eve"].file == tmp_path / "nested" / "deny.cedar"
    assert loaded.sources["deny-eve"].line == 2
    assert set(loaded.files) == {tmp_path / "mixed.cedar", tmp_path / "nested" / "deny.cedar"}
    assert set(loaded.document["staticPolicies"]) == {
        "admins-read",
        "mixed.cedar:5",
        "mixed.cedar:10",
        "deny-eve",
    }
    assert set(loaded.document["templates"]) == {"owner-template"}
    assert loaded.document["templateLinks"] == []
    assert len(loaded.version) == 16 and int(loaded.version, 16) >= 0


def test_cedar_reports_the_ids_as_determining_policies(tmp_path: Path) -> None:
    write(
        tmp_path, "a.cedar", '@id("bob-read")\npermit (principal == User::"bob", action, resource);'
    )
    write(tmp_path, "b.cedar", 'forbid (principal == User::"eve", action, resource);\n'
                               'permit (principal == User::"eve", action, resource);')  # fmt: skip
    loaded = load_policies(tmp_path)
    bob = decide(loaded, "bob")
    assert bob.allowed and bob.diagnostics.reasons == ["bob-read"]
    eve = decide(loaded, "eve")
    assert not eve.allowed and eve.diagnostics.reasons == ["b.cedar:1"]
    assert not decide(loaded, "nobody").allowed


def test_version_follows_the_content(tmp_path: Path) -> None:
    path = write(tmp_path, "a.cedar", ALLOW)
    first = load_policies(tmp_path).version
    assert load_policies(tmp_path).version == first
    path.write_text(ALLOW + "\n", encoding="utf-8")
    assert load_policies(tmp_path).version != first
    path.write_text(ALLOW, encoding="utf-8")
    assert load_policies(tmp_path).version == first
    path.rename(tmp_path / "b.cedar")
    assert load_policies(tmp_path).version != first


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, "a.cedar", f'@id("read")\n{ALLOW}')
    second = write(
        tmp_path, "b.cedar", f'{ALLOW}\n\n@id("read")\nforbid (principal, action, resource);'
    )
    message = refusal(tmp_path)
    assert message == f"{second}:3: duplicate policy @id('read'), first at {first}:1"


def test_duplicate_id_within_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.cedar", f'@id("x")\n{ALLOW}\n@id("x")\n{ALLOW}')
    assert refusal(tmp_path) == f"{path}:3: duplicate policy @id('x'), first at {path}:1"


def test_same_file_name_in_two_folders(tmp_path: Path) -> None:
    write(tmp_path, "hr/rules.cedar", ALLOW)
    write(tmp_path, "finance/rules.cedar", ALLOW)
    assert len(load_policies(tmp_path).sources) == 2


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({}, "no *.cedar files in"),
        ({"README.md": ALLOW}, "no *.cedar files in"),
        ({"empty.cedar": ""}, "no policies (empty files)"),
        ({"comments.cedar": "// nothing; here\n"}, "no policies (empty files)"),
    ],
)
def test_nothing_to_enforce_is_refused(tmp_path: Path, files: dict[str, str], says: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    assert says in refusal(tmp_path)


@pytest.mark.parametrize("make", ["missing", "file"])
def test_policy_dir_must_be_a_directory(tmp_path: Path, make: str) -> None:
    target = tmp_path / "policies"
    if make == "file":
        target.write_text(ALLOW, encoding="utf-8")
    assert refusal(target) == f"policy directory {target} does not exist"


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.cedar", b'permit (principal, action, resource) when { "\xe9" };')
    message = refusal(tmp_path)
    assert message.startswith(f"{path}: cannot be read: ")


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policies, "MAX_POLICY_FILE_BYTES", len(ALLOW) - 1)
    path = write(tmp_path, "a.cedar", ALLOW)
    assert refusal(tmp_path) == f"{path}: larger than {len(ALLOW) - 1} bytes"


def test_comment_ended_by_a_lone_carriage_return() -> None:
    text = f"// old Mac line end\r{ALLOW}\n{ALLOW}"
    assert len(statements(text)) == 2
    assert [s.line for s in parse_file(Path("c.cedar"), text)] == [1, 2]


DEEP_CASES = {
    "brackets": "permit (principal, action, resource) when { " + "(" * 1000 + "true"
    + ")" * 1000 + " };",
    "sets": "permit (principal, action, resource) when { " + "[" * 800 + "1" + "]" * 800
    + " == [1] };",
    "ifs": "permit (principal, action, resource) when { " + "if true then " * 6000 + "true"
    + " else false" * 6000 + " };",
    "accesses": "permit (principal, action, resource) when { context" + ".a" * 30000 + " == 1 };",
}  # fmt: skip
DEEP_SCRIPT = """
import json, sys
from pathlib import Path
from authorizer.cedar.policies import parse_file
from authorizer.cedar.uids import UidError, parse_uid
from authorizer.errors import PolicyError
from authorizer.tooling.authoring.checks import parse_problems
out = {}
for name, text in json.loads(sys.stdin.read()).items():
    try:
        parse_file(Path(name + ".cedar"), text)
        out[name] = "parsed"
    except PolicyError as error:
        out[name] = str(error)
    out[name + " (validate)"] = [p.message for p in parse_problems({Path(name): text})]
try:
    parse_uid('User::"a", action, resource) when { ' + "(" * 1000 + "true" + ")" * 1000)
except UidError as error:
    out["uid"] = str(error)
print(json.dumps(out))
"""


def test_policies_nested_deeper_than_cedars_parser_can_go_are_refused_not_a_crash() -> None:
    """Cedar's parser overflows its stack (the process dies: SIGSEGV) on ~700 nested brackets,
    thousands of nested `if`s or of `.a` in a row; a bundle holding one killed the running
    authorizer. Each is a precise parse error instead. In a child process: on code without
    the check, the child dies, not the test run."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    done = subprocess.run([sys.executable, "-c", DEEP_SCRIPT], input=json.dumps(DEEP_CASES),
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    found = json.loads(done.stdout)
    expected = {"brackets": "brackets nest 1001 deep", "sets": "brackets nest 801 deep",
                "ifs": "more than 200 `if`s", "accesses": "more than 1000 `.name` accesses"}  # fmt: skip
    for name, says in expected.items():
        assert found[name].startswith(f"{name}.cedar: policy does not parse: "), found
        assert says in found[name]
        assert [says in m for m in found[f"{name} (validate)"]] == [True]
    assert "brackets nest 1001 deep" in found["uid"]
    # Far below those depths, nothing a person writes is refused.
    assert policies.nesting_problem(DEEP_CASES["brackets"].replace("(" * 1000, "(" * 90)
                                    .replace(")" * 1000, ")" * 90)) is None  # fmt: skip
