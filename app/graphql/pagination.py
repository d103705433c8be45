"""Relay connections with opaque keyset cursors.

A cursor is base64 of a JSON array: a tag naming the list it belongs to, then the keyset
values of the row it points at. The tag makes a cursor from one list invalid in another.
A cursor comes back from the client, so every value in it is checked here, down to the range
Postgres accepts: anything malformed is BAD_USER_INPUT, never a failed query.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
import strawberry
from strawberry.types.nodes import SelectedField

from app.errors import BadUserInput, ValidationFailed
from app.graphql import fields as gql

if TYPE_CHECKING:
    from app.graphql.context import Info

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# Longer than any cursor this API hands out; a longer one is not worth decoding.
MAX_CURSOR_CHARS = 512
# Postgres `integer`: the message seq column.
MAX_INT4 = 2**31 - 1

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    # Counts the whole list (with the page's filters) when totalCount is asked for.
    counter: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @gql.field(
        "How many items the list holds with these filters, on every page (counted only when "
        "asked for). Null for a list that does not count."
    )
    async def total_count(self) -> int | None:
        return await self.counter() if self.counter is not None else None


def page_size(first: int | None, name: str = "first") -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"{name} must be between 1 and {MAX_PAGE_SIZE}")
    return first


def encode_cursor(tag: str, *values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([tag, *values])).decode()


def invalid_cursor(name: str = "after") -> BadUserInput:
    return BadUserInput(f"{name}: invalid cursor")


def decode_cursor(cursor: str, tag: str, name: str = "after") -> list[Any]:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid_cursor(name)
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise invalid_cursor(name) from None
    if not isinstance(data, list) or not data or data[0] != tag:
        raise invalid_cursor(name)
    return data[1:]


def cursor_time(value: object, name: str = "after") -> datetime:
    """A cursor's timestamp, in UTC and within what a timestamptz holds."""
    if not isinstance(value, str):
        raise invalid_cursor(name)
    try:
        at = datetime.fromisoformat(value)
        # A naive time is taken as UTC; an offset at the edge of the calendar can overflow.
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid_cursor(name) from None


def cursor_int(value: object, name: str = "after") -> int:
    # bool is an int to Python and to orjson's output, not to a keyset.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT4:
        raise invalid_cursor(name)
    return value


def time_id_cursor(tag: str, at: datetime, row_id: uuid.UUID) -> str:
    # orjson writes a datetime as its isoformat() does, in place. Not the id: asyncpg's UUID
    # is its own class, which orjson does not take.
    return encode_cursor(tag, at, str(row_id))


def decode_time_id(cursor: str, tag: str, name: str = "after") -> tuple[datetime, uuid.UUID]:
    values = decode_cursor(cursor, tag, name)
    if len(values) != 2 or not isinstance(values[1], str):
        raise invalid_cursor(name)
    try:
        row_id = uuid.UUID(values[1])
    except ValueError:
        raise invalid_cursor(name) from None
    return cursor_time(values[0], name), row_id


def connection(
    rows: Sequence[R],
    limit: int,
    node: Callable[[R], T],
    cursor: Callable[[R], str],
    *,
    has_previous: bool,
    reverse: bool = False,
) -> Connection[T]:
    """Build a page from `limit + 1` fetched rows (the extra one only says there is more).

    `reverse`: the rows were fetched backwards (a `last`/`before` page) and are shown forwards.
    """
    more = len(rows) > limit
    page = list(rows[:limit])
    if reverse:
        page.reverse()
    edges = [Edge(cursor=cursor(r), node=node(r)) for r in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_previous if reverse else more,
            has_previous_page=more if reverse else has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def node_fields(info: Info, *path: str) -> set[str]:
    """The names of the fields the query asks for at `path` below the resolver's own field
    (e.g. "edges", "node": what a page asks of each node), through fragments."""
    names: set[str] = set()

    def walk(selections: list[Any], depth: int) -> None:
        for sel in selections:
            if not isinstance(sel, SelectedField):
                walk(sel.selections, depth)  # fragments: same level
            elif depth == len(path):
                names.add(sel.name)
            elif sel.name == path[depth]:
                walk(sel.selections, depth + 1)

    for selected in info.selected_fields:
        walk(selected.selections, 0)
    return names
