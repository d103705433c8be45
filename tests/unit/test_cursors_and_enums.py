"""Page cursors and stored-enum reads: the fast forms give what the plain ones give."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from asyncpg.pgproto.pgproto import UUID as DriverUUID

from app.graphql.enums import member, of
from app.graphql.pagination import decode_time_id, encode_cursor, time_id_cursor
from app.models.states import MessageStatus


@pytest.mark.parametrize("at", [
    datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
    datetime(2026, 12, 3, 9, 30, 1, 7, tzinfo=UTC),
    datetime(2026, 12, 3, 9, 30, 1, 999_999, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(1, 1, 1, tzinfo=UTC),
])
@pytest.mark.parametrize("make_id", [uuid.UUID, DriverUUID], ids=["uuid", "asyncpg"])
def test_a_time_and_id_cursor_is_the_isoformat_one_and_reads_back(at, make_id):
    row_id = make_id(str(uuid.uuid4()))  # ids come from rows as asyncpg's own UUID class
    cursor = time_id_cursor("conversation", at, row_id)
    # The same text as a cursor written from isoformat() and str(): cursors a client holds
    # from before keep their meaning.
    assert cursor == encode_cursor("conversation", at.isoformat(), str(row_id))
    assert decode_time_id(cursor, "conversation") == (at, uuid.UUID(str(row_id)))


class Colour(enum.Enum):
    RED = "red"


def test_enum_reads_give_the_member_or_say_what_is_wrong():
    assert of(MessageStatus, "sent") is MessageStatus.SENT
    assert of(Colour, "red") is Colour.RED
    with pytest.raises(ValueError, match="'purple' is not a valid Colour"):
        of(Colour, "purple")
    assert member(Colour, "purple", Colour.RED) is Colour.RED
    assert member(MessageStatus, "failed", MessageStatus.SENT) is MessageStatus.FAILED
