"""Claim and request values -> Cedar JSON values, directed by the schema where there is one.

Cognito sends `custom:*` attributes as strings and V1 pre-token hooks stringify everything, so a
claim declared `Long` may arrive as "5000": it is converted. A value that cannot take the declared
type is dropped, except from the claims (``claims_record``) and the request's own parameters
(``given_record``), where it is refused: what a policy may read is all there or the request is
refused. Without a schema, JSON values map to their natural Cedar forms.

A set (or list) is all or nothing: one element that cannot take its type drops the whole value,
never the element alone. A policy sees an absent attribute (``has`` is false) and can decide on
that; a set silently shortened would look whole (``containsAll``, ``isEmpty`` would answer for a
set the token does not hold).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from authorizer.cedar.schema import (
    Attribute,
    CedarType,
    EntityRef,
    ExtensionType,
    Primitive,
    RecordType,
    SetType,
    type_name,
)
from authorizer.errors import InvalidParameter, InvalidToken
from authorizer.limits import CEDAR_LONG


class _Dropped:
    def __repr__(self) -> str:
        return "DROPPED"


DROPPED: Final = _Dropped()
MAX_DEPTH = 8
# ASCII digits only: `\d` would also take other scripts' digits, which Cedar refuses.
_INTEGER = re.compile(r"^-?[0-9]{1,19}\Z")
_DECIMAL = re.compile(r"^-?[0-9]+\.[0-9]{1,4}\Z")
# Patterns only a claim declared as a duration or datetime needs: compiled on first use (re
# caches them), not at import, where the two cost ~1 ms of the cold start.
_DURATION = r"^-?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?\Z"
_DATETIME = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{3})?(?:Z|[+-]([0-9]{2})([0-9]{2})))?\Z"
)
_DURATION_UNITS_MS = (86_400_000, 3_600_000, 60_000, 1_000, 1)


class _Mistyped(Exception):
    """A declared attribute, given, that cannot take its type (``strict`` coercion only); turned
    into the caller's error before it leaves this module. ``path``: the attribute, outermost
    first."""

    def __init__(self, path: list[str], wanted: CedarType | None, missing: bool = False) -> None:
        super().__init__(".".join(path))
        self.path = path
        self.wanted = wanted
        self.missing = missing  # required by the schema, and not given (or null)

    def says(self, what: str) -> str:
        name = f"{what} {'.'.join(self.path)[:128]!r}"
        if self.missing:
            return f"{name} is required by the schema and missing"
        return f"{name} is not a {_name(self.wanted)}"


def to_cedar(value: Any, cedar_type: CedarType | None, depth: int = 0, strict: bool = False) -> Any:
    """The Cedar JSON form of ``value`` as ``cedar_type``, or ``DROPPED``. ``strict``: a declared
    record attribute that is given (not null) but cannot take its type raises ``_Mistyped``."""
    if value is None or depth > MAX_DEPTH:
        return DROPPED
    if cedar_type is None:
        return _untyped(value, depth, strict)
    if isinstance(cedar_type, Primitive):
        return _primitive(value, cedar_type.name)
    if isinstance(cedar_type, SetType):
        return _set(value, cedar_type.element, depth, strict)
    if isinstance(cedar_type, RecordType):
        return record(value, cedar_type, depth, strict)
    if isinstance(cedar_type, EntityRef):
        return _entity(value, cedar_type)
    return _extension(value, cedar_type)


def record(value: Any, cedar_type: RecordType, depth: int = 0, strict: bool = False) -> Any:
    """Declared attributes only (unless the type admits others). ``strict``: see ``to_cedar``,
    and a required attribute that is missing raises ``_Mistyped`` (``missing``); not strict, it
    stays missing. Cedar never checks the caller's entities against the schema (they are added
    to a parsed store): absent, `principal has sites` would be false and a forbid guarded by it
    would not hold where Cedar, given the schema, refuses the entity."""
    if isinstance(value, str) and value.startswith("{"):
        value = _json(value)
    if type(value) is not dict and not isinstance(value, Mapping):  # (the ABC check is slow)
        return DROPPED
    out: dict[str, Any] = {}
    declared = cedar_type.attributes
    if not cedar_type.additional_attributes and len(declared) < len(value):
        # Claims hold many values a type does not declare: look up the few it does.
        for name, wanted in declared.items():
            if name in value:
                # (``_attribute`` written out: this loop runs per claim of every new caller)
                item = value[name]
                try:
                    converted = to_cedar(item, wanted.type, depth + 1, strict)
                except _Mistyped as inner:
                    raise _Mistyped([name, *inner.path], inner.wanted, inner.missing) from None
                if converted is not DROPPED:
                    out[name] = converted
                elif strict and item is not None:
                    raise _Mistyped([name], wanted.type)
        if strict:
            _require(out, declared)
        return out
    for name, item in value.items():
        attribute: Attribute | None = cedar_type.attributes.get(name)
        if attribute is None:
            if not cedar_type.additional_attributes or not isinstance(name, str):
                continue
            if name.startswith("__"):  # `__entity` / `__extn` would forge a typed Cedar value
                continue
            converted = _untyped(item, depth + 1)
        else:
            converted = _attribute(item, name, attribute.type, depth, strict)
        if converted is not DROPPED:
            out[name] = converted
    if strict:
        _require(out, declared)
    return out


def _require(shaped: Mapping[str, Any], declared: Mapping[str, Attribute]) -> None:
    """Strict: every required attribute is there (a null one counts as missing)."""
    if len(shaped) < len(declared):
        for name, attribute in declared.items():
            if attribute.required and name not in shaped:
                raise _Mistyped([name], attribute.type, missing=True)


def _attribute(value: Any, name: str, wanted: CedarType | None, depth: int, strict: bool) -> Any:
    """A declared attribute of a record at ``depth``, as ``to_cedar`` makes it."""
    if not strict:
        return to_cedar(value, wanted, depth + 1)
    try:
        converted = to_cedar(value, wanted, depth + 1, strict)
    except _Mistyped as inner:
        raise _Mistyped([name, *inner.path], inner.wanted, inner.missing) from None
    if converted is DROPPED and value is not None:
        raise _Mistyped([name], wanted)
    return converted


def claims_record(claims: Mapping[str, Any], declared: CedarType | None, what: str) -> Any:
    """Verified claims as the declared type (a principal's attributes, ``context.token``; None:
    no schema, their natural Cedar forms). A claim the token holds that cannot take its type
    (without a schema: that has no Cedar form, `1.5`) is refused (``InvalidToken``), never
    dropped: absent, a ``forbid`` guarded by ``principal has level`` would not hold. A null
    claim counts as absent."""
    try:
        shaped = to_cedar(claims, declared, 0, strict=True)
        if shaped is DROPPED and (declared is None or isinstance(declared, RecordType)):
            # (`__entity` / `__extn` among the claims would forge a typed Cedar value)
            raise InvalidToken("bad_claim", f"the {what}s hold a name starting with __")
        return shaped
    except _Mistyped as mistyped:
        reason = "missing_claim" if mistyped.missing else "bad_claim"
        raise InvalidToken(reason, mistyped.says(what)) from None


def given_record(
    raw: Mapping[str, Any], declared: RecordType | None, given: Iterable[str], what: str
) -> dict[str, Any]:
    """``raw`` as Cedar values (shaped to ``declared``; None: no schema, plain JSON values) for
    a context the caller gave (``given``: the attributes it gave, as opposed to ours). One that
    cannot take its type, whole or at any depth, is refused (``InvalidParameter``, naming it as
    ``what`` with its path): dropped, a policy would decide as if it were not given (a
    ``forbid`` guarded by ``context has amount`` would not hold) while the backend reads what
    was sent."""
    if declared is None:
        plain = {name: to_cedar(value, None) for name, value in raw.items()}
        shaped = {name: value for name, value in plain.items() if value is not DROPPED}
    else:
        typed = record(raw, declared)
        shaped = typed if isinstance(typed, dict) else {}
    for name in given:
        if name not in raw or (declared is not None and name not in declared.attributes):
            continue
        wanted = declared.attributes[name].type if declared is not None else None
        try:  # (null is no value, here as anywhere inside: the attribute is absent)
            _attribute(raw[name], name, wanted, 0, True)
        except _Mistyped as refused:
            raise InvalidParameter("bad_parameter", refused.says(what)) from None
    return shaped


def misfit(
    value: Any, name: str, declared: CedarType
) -> tuple[tuple[str, ...], Callable[[str], str]] | None:
    """Whether ``value`` takes ``declared`` whole (strictly: nothing dropped at any depth, no
    required attribute missing): None, or the path of what does not, and what says so, naming
    it as its argument does (``"parameter"``)."""
    try:
        _attribute(value, name, declared, 0, True)
    except _Mistyped as refused:
        return tuple(refused.path), refused.says
    return None


def _name(wanted: CedarType | None) -> str:
    return type_name(wanted) if wanted is not None else "Cedar value"


def _untyped(value: Any, depth: int, strict: bool = False) -> Any:
    if depth > MAX_DEPTH or value is None:
        return DROPPED
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if CEDAR_LONG[0] <= value <= CEDAR_LONG[1] else DROPPED
    if isinstance(value, float):
        return (
            int(value)
            if value.is_integer() and CEDAR_LONG[0] <= value <= CEDAR_LONG[1]
            else DROPPED
        )
    if isinstance(value, list):
        items = [_untyped(v, depth + 1, strict) for v in value]
        return DROPPED if DROPPED in items else items
    if isinstance(value, Mapping):
        if any(isinstance(k, str) and k.startswith("__") for k in value):
            return DROPPED  # `__entity` / `__extn` in a claim would forge a typed Cedar value
        if strict:
            return {
                k: v
                for k, item in value.items()
                if isinstance(k, str)
                and (v := _attribute(item, k, None, depth, True)) is not DROPPED
            }
        converted = {k: _untyped(v, depth + 1) for k, v in value.items() if isinstance(k, str)}
        return {k: v for k, v in converted.items() if v is not DROPPED}
    return DROPPED


def _primitive(value: Any, name: str) -> Any:
    if name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return DROPPED
    if name == "Long":
        if isinstance(value, bool):
            return DROPPED
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            value = int(value.strip())
        if isinstance(value, int) and CEDAR_LONG[0] <= value <= CEDAR_LONG[1]:
            return value
        return DROPPED
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return DROPPED


def _set(value: Any, element: CedarType, depth: int, strict: bool = False) -> Any:
    if isinstance(value, str):
        # A JSON array (a V1 hook stringifies lists) or space-separated words (OAuth `scope`).
        value = _json(value) if value.startswith("[") else value.split()
    if not isinstance(value, list):
        return DROPPED
    items = [to_cedar(v, element, depth + 1, strict) for v in value]
    return DROPPED if DROPPED in items else items


def _entity(value: Any, cedar_type: EntityRef) -> Any:
    """A reference to an entity of the type; of an enumerated type, one of its ids only (Cedar,
    given the schema, refuses any other: `region: "nope"` passed `principal has region`)."""
    if not isinstance(value, str) or not value:
        return DROPPED
    if cedar_type.choices is not None and value not in cedar_type.choices:
        return DROPPED
    return {"__entity": {"type": cedar_type.name, "id": value}}


_FUNCTIONS = {"ipaddr": "ip", "decimal": "decimal", "datetime": "datetime", "duration": "duration"}


def _extension(value: Any, cedar_type: ExtensionType) -> Any:
    name = cedar_type.name
    if isinstance(value, Mapping) and isinstance(value.get("__extn"), Mapping):
        # Already in Cedar's form (the request record builds them): re-check, never trust.
        if value["__extn"].get("fn") != _FUNCTIONS[name]:
            return DROPPED
        value = value["__extn"].get("arg")
    if isinstance(value, float) and not math.isfinite(value):
        return DROPPED
    if name == "datetime" and isinstance(value, int | float) and not isinstance(value, bool):
        # Cedar's datetime keeps milliseconds: an epoch with a finer part is not rounded into
        # one (T + 0.0004 s would pass a `forbid` on `> datetime(T)`).
        milliseconds = value * 1000
        if isinstance(value, float) and abs(milliseconds - round(milliseconds)) > 1e-3:
            return DROPPED
        try:
            value = epoch_to_datetime(round(milliseconds) / 1000)
        except (OverflowError, ValueError, OSError):
            return DROPPED
    elif name == "decimal" and isinstance(value, str) and _INTEGER.match(value.strip()):
        value = value.strip() + ".0"  # Cognito sends a Number attribute as "2500"
    elif name == "decimal" and isinstance(value, int | float) and not isinstance(value, bool):
        # Cedar's decimal has 4 places: a float with more is not rounded into one (100.00004
        # would pass a `forbid` on greaterThan(decimal("100.0"))).
        if isinstance(value, float) and float(f"{value:.4f}") != value:
            return DROPPED
        value = f"{value:.4f}"
    elif name == "duration" and isinstance(value, int) and not isinstance(value, bool):
        value = f"{value}s"
    if not isinstance(value, str) or not _valid_extension_literal(name, value):
        return DROPPED
    return {"__extn": {"fn": _FUNCTIONS[name], "arg": value}}


@functools.lru_cache(maxsize=4096)  # source addresses repeat; parsing them is slow
def _valid_extension_literal(name: str, value: str) -> bool:
    if name == "ipaddr":
        # Cedar's ip() takes neither zone ids nor IPv4-embedded IPv6 forms, nor a prefix
        # length with a leading zero (`/08`, which Python reads as 8: a 500 from the entity
        # parse).
        if "%" in value or (":" in value and "." in value):
            return False
        _, slash, prefix = value.partition("/")
        if slash and (not prefix.isascii() or not prefix.isdigit() or prefix != str(int(prefix))):
            return False
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return True
    if name == "decimal":
        if not _DECIMAL.match(value):
            return False
        whole, _, fraction = value.lstrip("-").partition(".")
        scaled = int(whole) * 10_000 + int(fraction.ljust(4, "0"))  # exact: no float rounding
        return _fits_i64(-scaled if value.startswith("-") else scaled)
    if name == "duration":
        match = re.match(_DURATION, value)
        if match is None or value in ("", "-") or not any(match.groups()):
            return False
        total = sum(
            int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS_MS, strict=True) if g
        )
        return _fits_i64(total)
    return _valid_datetime(value)


def _valid_datetime(value: str) -> bool:
    match = re.match(_DATETIME, value)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_h, off_m = match.groups()
    try:
        # Cedar's years start at 0000, Python's at 1: year 0 is checked as 2000, a year of
        # the same 400-year leap cycle (0000-02-29 exists).
        dt.date(int(year) or 2000, int(month), int(day))
        if hour is not None:
            dt.time(int(hour), int(minute), int(second))
    except ValueError:
        return False
    return off_h is None or (int(off_h) <= 23 and int(off_m) <= 59)


def _fits_i64(number: int) -> bool:
    return CEDAR_LONG[0] <= number <= CEDAR_LONG[1]


def epoch_to_datetime(seconds: float) -> str:
    """Cedar `datetime` literal (UTC, millisecond precision)."""
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ip_value(address: str) -> dict[str, Any]:
    return {"__extn": {"fn": "ip", "arg": address}}


def datetime_value(seconds: float) -> dict[str, Any]:
    return {"__extn": {"fn": "datetime", "arg": epoch_to_datetime(seconds)}}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return DROPPED
