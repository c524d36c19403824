"""What PostgreSQL makes of the values a fake stores, so fakes answer and refuse as its columns do.

`jsonb_text` is a JSON text as `jsonb` stores it and `::text` gives it back: keys sorted by byte
length and then bytes, a duplicate key keeping its last value, ", " and ": " between items,
numbers as `numeric` prints them (`1e-07` is `0.0000001`, `-0` is `0`), strings unescaped to
UTF-8. What `jsonb` refuses raises psycopg's error for it: `\\u0000` (UntranslatableCharacter),
and NaN, lone surrogates or malformed text (InvalidTextRepresentation). `text_value` and
`integer_value` refuse what psycopg and an `integer` column refuse.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg

INT4 = range(-(2**31), 2**31)


def text_value(value: str) -> str:
    """A string psycopg sends as text; NUL is refused before it reaches the server."""
    if "\x00" in value:
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return value


def integer_value(value: int) -> int:
    """An `integer` parameter; out of its range PostgreSQL refuses the statement."""
    if value not in INT4:
        raise psycopg.errors.NumericValueOutOfRange("integer out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _checked(value: Any) -> Any:
    """The parsed value with every string checked as `jsonb` checks it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise psycopg.errors.UntranslatableCharacter("unsupported Unicode escape sequence")
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise psycopg.errors.InvalidTextRepresentation("invalid input syntax for type json")
    elif isinstance(value, list):
        for item in value:
            _checked(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _checked(key)
            _checked(item)
    return value


def _rendered(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        return format(abs(value) if value.is_zero() else value, "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_rendered(v) for v in value) + "]"
    keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
    return "{" + ", ".join(f"{_rendered(k)}: {_rendered(value[k])}" for k in keys) + "}"


def jsonb_text(text: str) -> str:
    """`text::jsonb::text`, or the error PostgreSQL raises for the text."""
    text_value(text)
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise psycopg.errors.InvalidTextRepresentation("invalid input syntax for type json") from exc
    return _rendered(_checked(parsed))


def jsonb_value(value: Any) -> Any:
    """A value stored in a `jsonb` column as psycopg reads it back (its JSON parsed)."""
    return json.loads(jsonb_text(json.dumps(value)))
