"""``authorizer.records.NamedTuple`` makes the classes ``typing.NamedTuple`` makes: the same
class body, given to each, gives values that construct, compare, hash, print, replace, convert,
pickle and match alike, and the same errors for the same mistakes."""

from __future__ import annotations

import pickle
import typing
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authorizer import records

NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta")
IMPLEMENTATIONS = {"typing": typing.NamedTuple, "records": records.NamedTuple}


def define(source: str, base: Any) -> type:
    """The class ``source`` defines, with ``NamedTuple`` bound to ``base``."""
    namespace: dict[str, Any] = {"NamedTuple": base, "__name__": __name__}
    exec(source, namespace)
    cls: type = namespace["Value"]
    return cls


def class_source(fields: int, defaults: int) -> str:
    lines = ["class Value(NamedTuple):", '    """A value."""']
    for index, name in enumerate(NAMES[:fields]):
        default = f" = {index * 10!r}" if index >= fields - defaults else ""
        lines.append(f"    {name}: int{default}")
    lines += ["    LIMIT = 3", "    def total(self) -> int:", "        return sum(self)"]
    return "\n".join(lines)


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a call returned, or the type and message of what it raised."""
    try:
        return "value", call()
    except Exception as error:  # the comparison is of whatever either raises
        return type(error).__name__, str(error)


shapes = st.integers(0, len(NAMES)).flatmap(
    lambda fields: st.tuples(st.just(fields), st.integers(0, fields))
)
known_or_not = st.sampled_from((*NAMES, "omega"))
arguments = st.tuples(
    st.lists(st.integers(), max_size=len(NAMES) + 1),
    st.dictionaries(known_or_not, st.integers(), max_size=3),
)


@given(shapes, arguments, st.dictionaries(known_or_not, st.integers(), max_size=3),
       st.lists(st.integers(), max_size=len(NAMES) + 1))  # fmt: skip
def test_the_same_class_body_behaves_alike(
    shape: tuple[int, int],
    call: tuple[list[int], dict[str, int]],
    changes: dict[str, int],
    made_from: list[int],
) -> None:
    source = class_source(*shape)
    theirs, ours = (define(source, base) for base in IMPLEMENTATIONS.values())
    assert issubclass(ours, tuple)
    for attribute in ("_fields", "_field_defaults", "__match_args__", "__doc__", "LIMIT"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute

    positional, keywords = call
    made = {
        name: outcome(lambda cls=cls: cls(*positional, **keywords))
        for name, cls in (("typing", theirs), ("records", ours))
    }
    assert made["records"] == made["typing"]
    assert outcome(lambda: ours._make(made_from)) == outcome(lambda: theirs._make(made_from))  # type: ignore[attr-defined]
    if made["typing"][0] != "value":
        return
    theirs_value, ours_value = made["typing"][1], made["records"][1]
    assert ours_value == theirs_value and hash(ours_value) == hash(theirs_value)
    assert type(ours_value) is ours
    assert repr(ours_value) == repr(theirs_value)
    assert ours_value._asdict() == theirs_value._asdict()
    assert ours_value.total() == theirs_value.total()
    assert [getattr(ours_value, name) for name in ours._fields] == list(theirs_value)  # type: ignore[attr-defined]
    replaced = outcome(lambda: ours_value._replace(**changes))
    assert replaced == outcome(lambda: theirs_value._replace(**changes))
    if replaced[0] == "value":
        assert type(replaced[1]) is ours


class Point(records.NamedTuple):
    """Module level, so that pickle can find it."""

    x: int
    y: str = "origin"


def test_values_pickle_and_match_like_typings() -> None:
    point = Point(1)
    assert pickle.loads(pickle.dumps(point)) == point
    assert type(pickle.loads(pickle.dumps(point))) is Point
    match point:
        case Point(x, y):
            assert (x, y) == (1, "origin")
        case _:
            pytest.fail("the positional pattern did not match")
    match point:
        case Point(y="origin", x=x):
            assert x == 1
        case _:
            pytest.fail("the keyword pattern did not match")


@pytest.mark.parametrize(
    "body",
    [
        "    _hidden: int",
        "    first: int = 1\n    second: int",
        "    first: int = 1\n    also: int = 2\n    second: int",
        "    first: int\n    _fields = ()",
        "    first: int\n    def _replace(self): ...",
        "    first: int\n    __slots__ = ('extra',)",
        "    first: int\n    def __init__(self): ...",
        "    first: int\n    _source = ''",
        "    _hidden: int = 1\n    second: int",
    ],
)
def test_the_same_mistakes_give_the_same_errors(body: str) -> None:
    source = f"class Value(NamedTuple):\n{body}"
    ours = outcome(lambda: define(source, records.NamedTuple))
    assert ours[0] != "value"
    assert ours == outcome(lambda: define(source, typing.NamedTuple))


def test_a_subclass_of_a_value_type_is_a_plain_subclass_as_with_typing() -> None:
    class Labelled(Point):
        def label(self) -> str:
            return f"{self.y}+{self.x}"

    assert Labelled(2).label() == "origin+2"
    assert Labelled._fields == ("x", "y")


def test_the_package_makes_its_value_types_without_typing() -> None:
    """Every class that names ``NamedTuple`` in the package is made here (ruff's TID251 bans the
    import of typing's; this sees what an import could not: the class at run time)."""
    from authorizer.config import Settings  # noqa: PLC0415
    from authorizer.pdp import Caller  # noqa: PLC0415

    for cls in (Settings, Caller):
        assert records._Record in cls.__mro__, cls
