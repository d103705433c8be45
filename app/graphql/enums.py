"""Reading a stored value into a GraphQL enum.

Both read the enum's own value-to-member map first: calling the enum (`Kind(value)`) costs
about a microsecond, and a page of 50 nodes reads a few hundred stored values.
"""

from __future__ import annotations

import enum
from typing import TypeVar, cast

E = TypeVar("E", bound=enum.Enum)


def of(kind: type[E], value: object) -> E:
    """`kind(value)`: the member, ValueError for a value the enum lacks."""
    found = kind._value2member_map_.get(value)
    return cast(E, found) if found is not None else kind(value)


def member(kind: type[E], value: object, other: E) -> E:
    """`kind(value)`, or `other` for a value the set does not know (a row written by another
    version of the code, a provider's new type): one odd row must not fail a whole page."""
    found = kind._value2member_map_.get(value)
    if found is not None:
        return cast(E, found)
    try:
        return kind(value)
    except ValueError:
        return other
