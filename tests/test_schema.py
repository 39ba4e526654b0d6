"""authorizer.cedar.schema / schema_text: Cedar schema text -> JSON -> resolved model.

The converter is checked against Cedar itself: the JSON form must be accepted by cedarpy and
must validate policies exactly as the text form does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.cedar.schema import (
    ActionDef,
    Attribute,
    EntityRef,
    EntityTypeDef,
    ExtensionType,
    Primitive,
    RecordType,
    SchemaModel,
    SetType,
    cedarschema_to_json,
    load_schema,
    model_from_json,
)
from authorizer.cedar.schema_text import MAX_NESTING
from authorizer.errors import SchemaError

# --- schemas ----------------------------------------------------------------------------------

MULTI = r"""
// The company directory: two namespaces that refer to each other, plus the empty namespace.
@doc("people and documents")
namespace Corp {
  entity Group in [Group];
  @doc("a person")
  @pii
  entity User in [Group, Hr::Department] = {
    name: String,
    "e-mail"?: String,          // quoted and optional
    level: Long,
    active: Bool,
    groups: Set<Group>,
    @doc("where they report") department?: Hr::Department,
    home: { ip: ipaddr, "zone": String },
  } tags String;
  entity Document {
    owner: User,
    budget: decimal,
    created: datetime,
    ttl: duration,
    status: Status,
  };
  entity Status enum ["draft", "final", "say \"hi\"\n"];
  action read;
  action write in read;
  @route("GET /documents/{id}")
  @public
  action "get /documents/{id}" in [read, Hr::Action::"audit"] appliesTo {
    principal: User,
    resource: [Document],
    context: { ip: ipaddr, "request-id"?: String },
  };
  action "put /documents/{id}", "delete /documents/{id}" in [write] appliesTo {
    principal: [User], resource: Document
  };
  action "smile \u{1F600}" in Action::"read";
}

namespace Hr {
  entity Department { head: Corp::User };
  action audit;
  action "view department" in [audit] appliesTo { principal: Corp::User, resource: Department };
}

entity Tenant;
action ping appliesTo { principal: [Corp::User], resource: [Tenant] };
"""

MULTI_POLICIES: dict[str, tuple[bool, str]] = {
    "valid": (
        True,
        r"""
        permit(principal, action == Corp::Action::"get /documents/{id}", resource)
        when { principal.level > 3 && principal.active && resource.owner == principal
               && context.ip.isInRange(ip("10.0.0.0/8")) };
        permit(principal in Corp::Group::"admins", action in Corp::Action::"write", resource)
        when { resource.budget.lessThan(decimal("10.5")) && resource.status == Corp::Status::"final"
               && resource.created < datetime("2030-01-01") && resource.ttl > duration("1h") };
        permit(principal, action in Hr::Action::"audit", resource is Corp::Document)
        when { principal has department && principal.department.head == principal };
        permit(principal, action == Action::"ping", resource is Tenant)
        when { principal.hasTag("x") && principal.getTag("x") == "y" };
        permit(principal is Corp::User, action, resource)
        when { principal has "e-mail" && principal["e-mail"] like "*@corp" && principal.home.zone == "eu" };
        """,
    ),
    "string compared to Long": (
        False,
        r"""
        permit(principal, action == Corp::Action::"get /documents/{id}", resource)
        when { principal.level == "high" };
        """,
    ),
    "several errors": (
        False,
        r"""
        permit(principal, action == Corp::Action::"get /documents/{id}", resource)
        when { principal["e-mail"] == "x" };
        permit(principal, action == Hr::Action::"view department", resource)
        when { resource.head.level + "x" > 1 };
        permit(principal, action == Corp::Action::"get /documents/{id}", resource)
        when { context.nosuch };
        permit(principal, action == Corp::Action::"get /documents/{id}", resource)
        when { resource.status == Corp::Status::"nope" };
        """,
    ),
    "unknown action and impossible principal": (
        False,
        r"""
        permit(principal, action == Corp::Action::"nope", resource);
        permit(principal is Corp::Document, action == Corp::Action::"put /documents/{id}", resource);
        """,
    ),
}

COMMON = r"""
type Money = { amount: Long, currency: String };   // a common type of the empty namespace
namespace Shop {
  type Address = { street: String, city: String, geo?: Point };
  type Point = { lat: decimal, lon: decimal };
  type Addresses = Set<Address>;
  type Tag = String;
  @doc("the context of a purchase")
  type RequestContext = { ip: ipaddr, when: datetime, price: Money, tags: Set<Tag> };
  entity Customer = { home: Address, others: Addresses, wallet: Set<Money>, favourite?: Item };
  entity Item { price: Money, ships_to: Set<Shop::Address> };
  action buy appliesTo { principal: Customer, resource: Item, context: RequestContext };
}
namespace Audit {
  entity Log { where: Shop::Address };
  action view appliesTo { principal: Shop::Customer, resource: Log, context: Shop::RequestContext };
}
"""

COMMON_POLICIES: dict[str, tuple[bool, str]] = {
    "valid": (
        True,
        r"""
        permit(principal, action == Shop::Action::"buy", resource)
        when { context.price.amount <= resource.price.amount && context.tags.contains("sale")
               && principal.home.city == "Paris" && principal.others.contains(principal.home)
               && principal.home has geo && principal.home.geo.lat.greaterThan(decimal("1.0")) };
        permit(principal, action == Audit::Action::"view", resource)
        when { resource.where.street == principal.home.street && context.ip.isLoopback() };
        """,
    ),
    "type errors": (
        False,
        r"""
        permit(principal, action == Shop::Action::"buy", resource)
        when { context.price.amount == context.price.currency || principal.home.geo.lat > 1 };
        permit(principal, action == Shop::Action::"buy", resource) when { principal.favourite.price.amount > 1 };
        """,
    ),
}

EMPTY_NS = r"""
entity User { name: String, roles: Set<Role> };
entity Role;
entity Photo in [Album] { owner: User, private: Bool };
entity Album;
action view, edit appliesTo { principal: User, resource: [Photo, Album], context: {} };
action "admin";
"""

EMPTY_NS_POLICIES: dict[str, tuple[bool, str]] = {
    "valid": (
        True,
        r"""
        permit(principal, action in [Action::"view", Action::"edit"], resource is Photo)
        when { resource.owner == principal || !resource.private };
        permit(principal, action == Action::"view", resource in Album::"public");
        """,
    ),
    "type error": (
        False,
        r"""permit(principal, action == Action::"view", resource) when { resource.private == 1 };""",
    ),
}

# Names that shadow builtins, and Cedar's resolution order across namespaces.
SHADOW = r"""
type Addr = { street: String };
entity Org;
namespace N {
  entity String;
  entity U { a: String, b: __cedar::String, d: Addr, e: Bool, o: Org, l: __cedar::Long };
  action act appliesTo { principal: U, resource: U };
}
"""

SHADOW_POLICIES: dict[str, tuple[bool, str]] = {
    "valid": (
        True,
        r"""
        permit(principal, action, resource)
        when { principal.a == N::String::"x" && principal.b like "x*" && principal.d.street == "s"
               && principal.e && principal.o == Org::"o" && principal.l > 1 };
        """,
    ),
    "entity String is not a string": (
        False,
        r"""permit(principal, action, resource) when { principal.a like "x*" };""",
    ),
}

SCHEMAS = {
    "multi": (MULTI, MULTI_POLICIES),
    "common": (COMMON, COMMON_POLICIES),
    "empty namespace": (EMPTY_NS, EMPTY_NS_POLICIES),
    "shadow": (SHADOW, SHADOW_POLICIES),
}


def _rec(**attributes: Attribute) -> RecordType:
    return RecordType(attributes)


def _req(t: Any) -> Attribute:
    return Attribute(t)


def _opt(t: Any) -> Attribute:
    return Attribute(t, required=False)


STRING, LONG, BOOL = Primitive("String"), Primitive("Long"), Primitive("Boolean")


# --- the JSON form against Cedar -------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMAS)
def test_cedar_accepts_the_json_form(name: str) -> None:
    text, _ = SCHEMAS[name]
    doc = cedarschema_to_json(text)
    cedarpy.Schema.from_json_str(json.dumps(doc))


@pytest.mark.parametrize(
    ("name", "policy_set"),
    [(name, ps) for name, (_, policies) in SCHEMAS.items() for ps in policies],
)
def test_json_form_validates_like_the_text(name: str, policy_set: str) -> None:
    text, policies = SCHEMAS[name]
    expected_pass, source = policies[policy_set]
    doc = cedarschema_to_json(text)
    by_text = cedarpy.validate_policies(source, text)
    by_json = cedarpy.validate_policies(source, json.dumps(doc))
    assert by_text.validation_passed is expected_pass, [str(e) for e in by_text.errors]
    assert by_json.validation_passed is by_text.validation_passed
    assert len(by_json.errors) == len(by_text.errors)


@pytest.mark.parametrize("name", SCHEMAS)
def test_round_trip_through_cedars_rendering(name: str) -> None:
    text, _ = SCHEMAS[name]
    rendered = str(cedarpy.Schema.from_str(text))
    assert not rendered.startswith("<unrenderable")
    original = model_from_json(cedarschema_to_json(text), text)
    again = model_from_json(cedarschema_to_json(rendered), rendered)
    assert again == original


def test_json_output_format() -> None:
    text = r"""
    @doc("ns") namespace A::B {
      type T = Set<Long>;
      @a entity E in [F] = { "x y"?: T } tags Bool;
      entity F enum ["p", "q\t"];
      action "go", stop in [Action::"all", "x", C::Action::"y"]
        appliesTo { context: T2, resource: F, principal: [E, F], };
      action all; action x attributes {};
      type T2 = {};
    }
    namespace C { action y; }
    """
    assert cedarschema_to_json(text) == {
        "A::B": {
            "commonTypes": {
                "T": {"type": "Set", "element": {"type": "EntityOrCommon", "name": "Long"}},
                "T2": {"type": "Record", "attributes": {}},
            },
            "entityTypes": {
                "E": {
                    "memberOfTypes": ["F"],
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "x y": {"type": "EntityOrCommon", "name": "T", "required": False}
                        },
                    },
                    "tags": {"type": "EntityOrCommon", "name": "Bool"},
                    "annotations": {"a": ""},
                },
                "F": {"enum": ["p", "q\t"]},
            },
            "actions": {
                name: {
                    "memberOf": [
                        {"type": "Action", "id": "all"},
                        {"id": "x"},
                        {"type": "C::Action", "id": "y"},
                    ],
                    "appliesTo": {
                        "context": {"type": "T2"},
                        "resourceTypes": ["F"],
                        "principalTypes": ["E", "F"],
                    },
                }
                for name in ("go", "stop")
            }
            | {"all": {}, "x": {}},
            "annotations": {"doc": "ns"},
        },
        "C": {"entityTypes": {}, "actions": {"y": {}}},
    }


def test_string_escapes() -> None:
    text = r"""entity E enum ["\n\r\t\\\0\'\"", "\x41\u{1F600}\u{e9}\u{0_0e9}", "é"];"""
    doc = cedarschema_to_json(text)
    assert doc[""]["entityTypes"]["E"]["enum"] == ["\n\r\t\\\0'\"", "A\U0001f600éé", "é"]


def test_keywords_serve_as_names() -> None:
    text = r"""
    namespace entity {
      entity type { context: String, "in": Long, principal: Bool, namespace: Set<type> };
      action appliesTo appliesTo { principal: type, resource: type };
    }
    """
    model = model_from_json(cedarschema_to_json(text))
    attributes = model.entity_types["entity::type"].attributes.attributes
    assert attributes["namespace"] == _req(SetType(EntityRef("entity::type")))
    assert set(attributes) == {"context", "in", "principal", "namespace"}
    assert model.action("entity::Action", "appliesTo") is not None


# --- the resolved model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multi() -> SchemaModel:
    return model_from_json(cedarschema_to_json(MULTI), MULTI)


def test_model_namespaces(multi: SchemaModel) -> None:
    assert multi.namespaces == ("", "Corp", "Hr")
    assert multi.default_namespace == "Corp"
    assert multi.text == MULTI
    assert set(multi.json) == {"", "Corp", "Hr"}


def test_model_entity_types(multi: SchemaModel) -> None:
    assert set(multi.entity_types) == {
        "Corp::Group",
        "Corp::User",
        "Corp::Document",
        "Corp::Status",
        "Hr::Department",
        "Tenant",
    }
    user = multi.entity_type("Corp::User")
    assert user == EntityTypeDef(
        name="Corp::User",
        attributes=_rec(
            name=_req(STRING),
            **{"e-mail": _opt(STRING)},
            level=_req(LONG),
            active=_req(BOOL),
            groups=_req(SetType(EntityRef("Corp::Group"))),
            department=_opt(EntityRef("Hr::Department")),
            home=_req(_rec(ip=_req(ExtensionType("ipaddr")), zone=_req(STRING))),
        ),
        member_of=("Corp::Group", "Hr::Department"),
        annotations={"doc": "a person", "pii": ""},
        tags=STRING,
    )
    document = multi.entity_types["Corp::Document"].attributes.attributes
    assert document["owner"] == _req(EntityRef("Corp::User"))
    assert [document[k].type for k in ("budget", "created", "ttl")] == [
        ExtensionType("decimal"),
        ExtensionType("datetime"),
        ExtensionType("duration"),
    ]
    status = EntityRef("Corp::Status", ("draft", "final", 'say "hi"\n'))
    assert document["status"] == _req(status)  # an enumerated type carries its ids
    status = multi.entity_types["Corp::Status"]
    assert status.enum == ("draft", "final", 'say "hi"\n')
    assert status.attributes == RecordType({}) and status.member_of == () and status.tags is None
    assert multi.entity_types["Corp::Group"].member_of == ("Corp::Group",)
    assert multi.entity_types["Hr::Department"].attributes == _rec(
        head=_req(EntityRef("Corp::User"))
    )
    assert multi.entity_type("Tenant") == EntityTypeDef("Tenant", RecordType({}), (), {})
    assert multi.entity_type("User") is None


def test_model_actions(multi: SchemaModel) -> None:
    assert [(a.type, a.id) for a in multi.actions] == [
        ("Action", "ping"),
        ("Corp::Action", "delete /documents/{id}"),
        ("Corp::Action", "get /documents/{id}"),
        ("Corp::Action", "put /documents/{id}"),
        ("Corp::Action", "read"),
        ("Corp::Action", "smile \U0001f600"),
        ("Corp::Action", "write"),
        ("Hr::Action", "audit"),
        ("Hr::Action", "view department"),
    ]
    assert multi.action("Corp::Action", "get /documents/{id}") == ActionDef(
        type="Corp::Action",
        id="get /documents/{id}",
        principal_types=("Corp::User",),
        resource_types=("Corp::Document",),
        context=_rec(ip=_req(ExtensionType("ipaddr")), **{"request-id": _opt(STRING)}),
        annotations={"route": "GET /documents/{id}", "public": ""},
        member_of=(("Corp::Action", "read"), ("Hr::Action", "audit")),
    )
    put = multi.action("Corp::Action", "put /documents/{id}")
    delete = multi.action("Corp::Action", "delete /documents/{id}")
    assert put is not None and delete is not None
    assert (put.principal_types, put.resource_types) == (("Corp::User",), ("Corp::Document",))
    assert put.member_of == delete.member_of == (("Corp::Action", "write"),)
    read = multi.action("Corp::Action", "read")
    assert read == ActionDef("Corp::Action", "read", (), (), RecordType({}), {}, ())
    smile = multi.action("Corp::Action", "smile \U0001f600")
    assert smile is not None and smile.member_of == (("Corp::Action", "read"),)
    ping = multi.action("Action", "ping")
    assert ping is not None and ping.resource_types == ("Tenant",)
    assert multi.action("Corp::Action", "ping") is None
    view = multi.action("Hr::Action", "view department")
    assert view is not None and view.principal_types == ("Corp::User",)


def test_model_common_types_are_inlined() -> None:
    model = model_from_json(cedarschema_to_json(COMMON))
    money = _rec(amount=_req(LONG), currency=_req(STRING))
    point = _rec(lat=_req(ExtensionType("decimal")), lon=_req(ExtensionType("decimal")))
    address = _rec(street=_req(STRING), city=_req(STRING), geo=_opt(point))
    customer = model.entity_types["Shop::Customer"].attributes
    assert customer == _rec(
        home=_req(address),
        others=_req(SetType(address)),
        wallet=_req(SetType(money)),
        favourite=_opt(EntityRef("Shop::Item")),
    )
    assert model.entity_types["Shop::Item"].attributes == _rec(
        price=_req(money), ships_to=_req(SetType(address))
    )
    context = _rec(
        ip=_req(ExtensionType("ipaddr")),
        when=_req(ExtensionType("datetime")),
        price=_req(money),
        tags=_req(SetType(STRING)),
    )
    buy = model.action("Shop::Action", "buy")
    view = model.action("Audit::Action", "view")
    assert buy is not None and view is not None
    assert buy.context == context == view.context
    assert view.principal_types == ("Shop::Customer",)
    assert model.entity_types["Audit::Log"].attributes == _rec(where=_req(address))
    assert model.namespaces == ("", "Audit", "Shop")
    assert model.default_namespace == "Audit"  # the first named namespace with actions
    assert hash(context) == hash(buy.context)


def test_the_default_namespace_is_the_one_with_the_users() -> None:
    """`namespace Audit { action "audited"; }` beside the app's Shop was taken (sorted first):
    every route of Shop was gone, and every request denied as no route."""
    text = """
    namespace Audit { action "audited"; }
    namespace Shop {
      entity User; entity Application;
      action "get /orders" in [Audit::Action::"audited"]
        appliesTo { principal: User, resource: Application };
    }
    """
    assert model_from_json(cedarschema_to_json(text)).default_namespace == "Shop"
    # The app in the empty namespace beside a named one of action groups.
    empty = """
    namespace Audit { action "audited"; }
    entity User; entity Application;
    action "get /notes" appliesTo { principal: User, resource: Application };
    """
    assert model_from_json(cedarschema_to_json(empty)).default_namespace == ""


def test_model_empty_namespace() -> None:
    model = model_from_json(cedarschema_to_json(EMPTY_NS))
    assert model.namespaces == ("",)
    assert model.default_namespace == ""
    assert model.entity_types["Photo"].member_of == ("Album",)
    assert model.entity_types["User"].attributes == _rec(
        name=_req(STRING), roles=_req(SetType(EntityRef("Role")))
    )
    view = model.action("Action", "view")
    edit = model.action("Action", "edit")
    assert view is not None and edit is not None
    assert view.resource_types == edit.resource_types == ("Photo", "Album")
    assert view.context == RecordType({})


def test_model_resolution_order() -> None:
    model = model_from_json(cedarschema_to_json(SHADOW))
    assert model.entity_types["N::U"].attributes == _rec(
        a=_req(EntityRef("N::String")),  # an entity of the namespace shadows the builtin
        b=_req(STRING),  # __cedar:: always means the builtin
        d=_req(_rec(street=_req(STRING))),  # a common type of the empty namespace
        e=_req(BOOL),
        o=_req(EntityRef("Org")),  # an entity of the empty namespace
        l=_req(LONG),
    )


def test_common_type_beats_entity_of_the_same_name() -> None:
    text = """namespace N {
      type Thing = Long;
      entity Thing;
      entity U { t: Thing, s: Set<N::Thing> };
      action go appliesTo { principal: U, resource: U };
    }"""
    model = model_from_json(cedarschema_to_json(text))
    assert model.entity_types["N::U"].attributes == _rec(t=_req(LONG), s=_req(SetType(LONG)))
    assert "N::Thing" in model.entity_types
    policy = "permit(principal, action, resource) when { principal.t > 1 };"
    assert cedarpy.validate_policies(policy, text).validation_passed  # Cedar agrees: a Long
    # Cedar's own rendering cannot show this schema (it is not an exception, just a string)
    assert str(cedarpy.Schema.from_str(text)).startswith("<unrenderable Schema")


def test_json_only_forms() -> None:
    """Forms the text syntax never produces: entity shapes and contexts given as common types,
    explicit Entity/Extension/primitive types, and bare builtin names as common-type references."""
    doc = {
        "App": {
            "commonTypes": {
                "Shape": {
                    "type": "Record",
                    "attributes": {
                        "n": {"type": "Long"},
                        "b": {"type": "Boolean", "required": False},
                        "e": {"type": "Entity", "name": "User"},
                        "x": {"type": "Extension", "name": "decimal"},
                        "i": {"type": "ipaddr"},
                        "s": {"type": "EntityOrCommon", "name": "__cedar::String"},
                    },
                },
            },
            "entityTypes": {"User": {"shape": {"type": "Shape"}}, "Doc": {"memberOfTypes": []}},
            "actions": {
                "read": {
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": ["Doc"],
                        "context": {"type": "EntityOrCommon", "name": "Shape"},
                    },
                    "memberOf": [{"id": "all"}],
                },
                "all": {"memberOf": None},
            },
        }
    }
    model = model_from_json(doc)
    shape = _rec(
        n=_req(LONG),
        b=_opt(BOOL),
        e=_req(EntityRef("App::User")),
        x=_req(ExtensionType("decimal")),
        i=_req(ExtensionType("ipaddr")),
        s=_req(STRING),
    )
    assert model.entity_types["App::User"].attributes == shape
    read = model.action("App::Action", "read")
    assert read is not None and read.context == shape
    assert read.member_of == (("App::Action", "all"),)
    assert model.json is doc and model.text is None


def test_action_groups_fall_back_to_the_empty_namespace() -> None:
    text = 'action all; namespace N { action mine; action a in [mine, all, Action::"all"]; }'
    model = model_from_json(cedarschema_to_json(text))
    a = model.action("N::Action", "a")
    assert a is not None
    assert a.member_of == (("N::Action", "mine"), ("Action", "all"), ("Action", "all"))


def test_model_equality_ignores_source() -> None:
    one = model_from_json(cedarschema_to_json(EMPTY_NS), EMPTY_NS)
    reordered = "\n".join(reversed(EMPTY_NS.strip().splitlines()))
    two = model_from_json(cedarschema_to_json(reordered), reordered)
    assert one == two and one.text != two.text


def test_resolver_detects_cycles_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cedar rejects cycles first; the resolver must not loop if it ever sees one."""

    class AcceptAll:
        @staticmethod
        def from_json_str(_: str) -> None:
            return None

    monkeypatch.setattr(cedarpy, "Schema", AcceptAll)
    doc = {
        "N": {
            "commonTypes": {"A": {"type": "Set", "element": {"type": "B"}}, "B": {"type": "A"}},
            "entityTypes": {"U": {"shape": {"type": "Record", "attributes": {"a": {"type": "A"}}}}},
            "actions": {},
        }
    }
    with pytest.raises(SchemaError, match=r"cycle: N::A -> N::B -> N::A"):
        model_from_json(doc)
    doc["N"]["commonTypes"] = {}
    with pytest.raises(SchemaError, match=r"undeclared common type `A` \(in namespace N\)"):
        model_from_json(doc)


# --- loading files ------------------------------------------------------------------------------


def test_load_schema_both_formats(tmp_path: Path) -> None:
    text_file = tmp_path / "app.cedarschema"
    text_file.write_text(MULTI, encoding="utf-8")
    json_file = tmp_path / "app.cedarschema.json"
    json_file.write_text(json.dumps(cedarschema_to_json(MULTI), indent=2), encoding="utf-8")
    plain_json = tmp_path / "app.json"
    plain_json.write_text(json_file.read_text(encoding="utf-8"), encoding="utf-8")
    from_text = load_schema(text_file)
    from_json = load_schema(json_file)
    assert from_text == from_json == load_schema(plain_json)
    assert from_text.text == MULTI and from_json.text is None
    cedarpy.Schema.from_json_str(json.dumps(from_text.json))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.cedarschema"
    with pytest.raises(SchemaError, match=r"nope\.cedarschema: no such schema file"):
        load_schema(path)
    with pytest.raises(SchemaError, match="cannot read schema"):
        load_schema(tmp_path)


def test_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "s.cedarschema.json"
    path.write_text('{\n  "": {\n    "entityTypes": {,\n  }\n}\n', encoding="utf-8")
    with pytest.raises(SchemaError, match=r"s\.cedarschema\.json, line 3, column 21: invalid JSON"):
        load_schema(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SchemaError, match="object of namespaces, not a list"):
        load_schema(path)
    path.write_text('{"": {"entityTypes": {"U": {"shapes": 1}}, "actions": {}}}', encoding="utf-8")
    with pytest.raises(SchemaError, match=r"s\.cedarschema\.json: unknown field `shapes`"):
        load_schema(path)
    doc = {"": {"entityTypes": {"U": {"memberOfTypes": ["Nope"]}}, "actions": {}}}
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    with pytest.raises(
        SchemaError, match=r"s\.cedarschema\.json, line 6: failed to resolve type: Nope"
    ):
        load_schema(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(SchemaError, match="cannot read schema"):
        load_schema(path)


def test_invalid_json_documents() -> None:
    with pytest.raises(SchemaError, match="failed to resolve type: Lng"):
        model_from_json(
            {"": {"entityTypes": {"U": {"shape": {"type": "Lng"}}}, "actions": {}}}, source="x.json"
        )
    with pytest.raises(SchemaError, match=r"^schema: "):
        model_from_json({"": {"entityTypes": {}, "actions": {"a": {"memberOf": [{"id": "b"}]}}}})
    with pytest.raises(SchemaError, match="is not JSON serializable"):
        model_from_json({"": {"entityTypes": {"U": object()}, "actions": {}}})


# --- errors in text -----------------------------------------------------------------------------


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.cedarschema"
    path.write_text('entity A;\n\nentity E in [A] enum ["a"];\n', encoding="utf-8")
    with pytest.raises(SchemaError) as raised:
        load_schema(path)
    message = str(raised.value)
    assert message.startswith(f"{path}, line 3, column 17: ")
    assert "unexpected token `enum`" in message  # Cedar's own words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "entity A;\nentity B in [A] {\n  x: Lng,\n};",
            r"^schema, line 3: failed to resolve type: Lng",
        ),
        ("entity U {\n x: Set<Long };", r"^schema, line 2, column 14: .*unexpected token `}`"),
        ("entity A;\nentity A;", r"^schema, line 2: .*`A` is declared twice"),
        ("action a in [b];", r'undeclared action: Action::"b"'),
        ("type A = B;\ntype B = A;\nentity U { a: A };", r"line 1: cycle in common type"),
        ("entity U { x: Boolean };", r"failed to resolve type: Boolean"),  # it is `Bool`
        ('entity U { x: "\\q" };', r"line 1, column 15: .*unexpected token"),
        ('entity "x', r"line 1, column 8: .*invalid token"),
        ("\x00", r"line 1, column 1: .*invalid token"),
        ("entity A;\n\ud800", r"^schema, line 2: not valid Unicode text"),
        ("namespace N { entity A; }\nnamespace N { entity B; }", r"line 2: .*duplicate namespace"),
    ],
)
def test_text_errors(text: str, expected: str) -> None:
    with pytest.raises(SchemaError, match=expected):
        cedarschema_to_json(text)


def test_nesting_limit() -> None:
    """cedarpy crashes the process on very deep schemas, so depth is checked before it runs."""
    deep = "entity U { a: " + "{a: " * (MAX_NESTING - 1) + "Long" + "}" * (MAX_NESTING - 1) + "};"
    model = model_from_json(cedarschema_to_json(deep))  # Cedar takes the JSON form too
    level: Any = model.entity_types["U"].attributes
    for _ in range(MAX_NESTING):
        level = level.attributes["a"].type
    assert level == LONG
    deeper = "entity U { a: " + "Set<" * MAX_NESTING + "Long" + ">" * MAX_NESTING + "};"
    with pytest.raises(SchemaError, match=f"line 1: nested deeper than {MAX_NESTING} levels"):
        cedarschema_to_json(deeper)
    with pytest.raises(SchemaError, match="nested deeper"):
        cedarschema_to_json("{" * 100_000)


def test_not_text() -> None:
    with pytest.raises(SchemaError, match="expected text, got bytes"):
        cedarschema_to_json(b"entity A;")  # type: ignore[arg-type]


# --- no other exception, whatever the input -----------------------------------------------------


def _convert(text: str) -> None:
    """Either a SchemaError, or a JSON form that Cedar takes and that resolves."""
    try:
        doc = cedarschema_to_json(text)
    except SchemaError as error:
        # Cedar rejected it; our parser is never the one to give up on what Cedar accepts.
        assert "cannot read it" not in str(error)
        assert "JSON form" not in str(error)
        return
    model_from_json(doc, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_schema_error(text: str) -> None:
    _convert(text)


_KEYWORDS = "namespace entity action type in appliesTo principal resource context tags enum"
_NAMES = "Set A B N Long String Bool ipaddr Action __cedar attributes"
_PUNCTUATION = "< > { } [ ] , ; : :: = ? @ ( )"
_VOCABULARY = [
    *f"{_KEYWORDS} {_NAMES} {_PUNCTUATION}".split(" "),
    '"a"',
    '"b\\n"',
    "// comment\n",
    "\n",
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=40))
def test_token_soup_raises_only_schema_error(tokens: list[str]) -> None:
    _convert(" ".join(tokens))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["Long", "String", "Bool", "A", "B", "Set<Long>", "{ x?: B }", "T"]),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_generated_schemas_agree_with_cedar(
    decls: list[tuple[str, str]], in_namespace: bool
) -> None:
    """Small valid-ish schemas: when Cedar takes the text, our JSON must validate the same way."""
    body = "type T = { n: Long };\n" + "\n".join(f"entity {n} {{ f: {t} }};" for n, t in decls)
    body += "\naction go appliesTo { principal: [A], resource: [A] };" if decls else ""
    text = f"namespace N {{ {body} }}" if in_namespace else body
    try:
        doc = cedarschema_to_json(text)
    except SchemaError:
        return
    model = model_from_json(doc, text)
    assert model.namespaces == (("N",) if in_namespace else ("",))
    policy = "permit(principal, action, resource) when { principal.f == resource.f };"
    by_text = cedarpy.validate_policies(policy, text)
    by_json = cedarpy.validate_policies(policy, json.dumps(doc))
    assert by_text.validation_passed is by_json.validation_passed
    assert len(by_text.errors) == len(by_json.errors)


def test_schema_types_of_different_kinds_are_never_equal() -> None:
    # They are NamedTuples (cheap to create at import); plain tuple equality would make
    # Primitive("X") equal EntityRef("X") and collide in the caches they key.
    kinds = [Primitive("String"), EntityRef("String"), ExtensionType("String")]  # type: ignore[arg-type]
    assert len(set(kinds)) == 3
    assert all(a != b and (a == b) is False for a in kinds for b in kinds if a is not b)
    assert Primitive("Long") == Primitive("Long")
    assert Primitive("Long") != ("Long",)
