"""Reading a stored value into a GraphQL enum without failing on a value the enum lacks."""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


def member(kind: type[E], value: object, other: E) -> E:
    """`kind(value)`, or `other` for a value the set does not know (a row written by another
    version of the code, a provider's new type): one odd row must not fail a whole page."""
    try:
        return kind(value)
    except ValueError:
        return other
