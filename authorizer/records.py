"""``NamedTuple`` for the package's value types: the classes ``typing.NamedTuple`` makes, made
without compiling code while the Lambda starts.

``typing.NamedTuple`` builds each class with ``collections.namedtuple``, which compiles the
class's ``__new__`` from source (``eval``); and under ``from __future__ import annotations``
typing compiles every field's annotation as well (``ForwardRef``). For the package's value
types that was 27 M instructions, a third of what our cold start ran beyond importing cedarpy
and PyJWT (80 M, ``python -m bench.instructions``).

Here ``__new__`` is a code object compiled once per number of fields, then given the field names
(``CodeType.replace``), and no annotation is read. The class is a tuple subclass with the same
fields, defaults, ``__new__`` signature, getters, ``_fields``, ``_field_defaults``, ``_make``,
``_replace``, ``_asdict``, repr, equality, hash and pickling as ``typing.NamedTuple``'s, and
the same errors (``tests/test_records.py`` compares the two).

Type checkers are shown ``typing.NamedTuple`` itself, so mypy checks every class as before;
ruff refuses ``typing.NamedTuple`` in the package (TID251).
"""

from __future__ import annotations

import itertools
from collections import _tuplegetter  # type: ignore[attr-defined]  # namedtuple's C getter
from collections.abc import Iterable
from functools import cache
from types import CodeType, FunctionType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import NamedTuple

__all__ = ["NamedTuple"]


class _Record(tuple):  # type: ignore[type-arg]
    """What every value type shares; each class adds its ``__new__``, fields and getters."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _field_defaults: dict[str, Any] = {}  # noqa: RUF012  # read only, as typing's is

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Any:
        values = tuple.__new__(cls, iterable)
        if len(values) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(values)}")
        return values

    def _replace(self, **changes: Any) -> Any:
        values = self._make(map(changes.pop, self._fields, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return values

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        pairs = zip(self._fields, self, strict=True)
        fields = ", ".join(f"{name}={value!r}" for name, value in pairs)
        return f"{type(self).__name__}({fields})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


@cache
def _new_code(arity: int) -> CodeType:
    """``__new__`` for ``arity`` fields, as ``collections.namedtuple`` writes it; compiled
    once per arity, its argument names set per class."""
    names = ", ".join(f"_{i}" for i in range(arity))
    source = f"lambda _cls, {names}: _tuple_new(_cls, ({names}{',' if arity else ''}))"
    code: CodeType = compile(source, "<records>", "eval").co_consts[0]
    return code


def _new(name: str, fields: tuple[str, ...], defaults: tuple[Any, ...]) -> FunctionType:
    code = _new_code(len(fields)).replace(
        co_varnames=("_cls", *fields), co_name="__new__", co_qualname=f"{name}.__new__"
    )
    new = FunctionType(code, {"_tuple_new": tuple.__new__}, "__new__", defaults or None)
    return new


# What a class body may not set, as typing refuses it.
_PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields",
                         "_field_defaults", "_make", "_replace", "_asdict", "_source"})  # fmt: skip


class _NamedTupleMeta(type):
    def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        # Checked in typing's order, with typing's errors.
        fields = tuple(namespace.get("__annotations__", {}))
        required = sum(1 for _ in itertools.takewhile(lambda f: f not in namespace, fields))
        defaulted = fields[required:]
        for index, field in enumerate(defaulted):
            if field not in namespace:
                after = defaulted[:index]
                raise TypeError(
                    f"Non-default namedtuple field {field} cannot follow default "
                    f"field{'s' if len(after) > 1 else ''} {', '.join(after)}"
                )
        for field in fields:
            if field.startswith("_"):
                raise ValueError(f"Field names cannot start with an underscore: {field!r}")
        for key in namespace:
            if key in _PROHIBITED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
        defaults = tuple(namespace[field] for field in defaulted)
        body: dict[str, Any] = {"__match_args__": fields}
        body.update((key, value) for key, value in namespace.items() if key not in fields)
        body.update(
            __slots__=(),
            __new__=_new(name, fields, defaults),
            _fields=fields,
            _field_defaults=dict(zip(defaulted, defaults, strict=True)),
        )
        for index, field in enumerate(fields):
            body[field] = _tuplegetter(index, f"Alias for field number {index}")
        return type.__new__(type, name, (_Record,), body)


if not TYPE_CHECKING:
    # A class that names it as its base is made by the metaclass instead; the base itself is
    # made without it.
    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})
