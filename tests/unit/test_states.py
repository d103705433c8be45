"""One vocabulary of states: every state a hand-written statement spells in its SQL text is a
member of the StrEnum for that column, and the models' constraints allow exactly the members."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import CheckConstraint

from app.models import Base
from app.models.states import (
    ChannelKind,
    ChannelStatus,
    ConversationMode,
    ConversationStatus,
    MessageDirection,
    MessageStatus,
    ReservationState,
    SenderRole,
)

APP = Path(__file__).resolve().parents[2] / "app"
COLUMNS = {
    "status": {*MessageStatus, *ChannelStatus, *ConversationStatus},
    "direction": set(MessageDirection),
    "sender_role": set(SenderRole),
    "mode": set(ConversationMode),
    "state": set(ReservationState),
    "kind": set(ChannelKind),
}
# `status = 'x'`, `status <> 'x'`, `status IN ('x', 'y')`, with or without a table alias.
COMPARED = re.compile(
    r"\b(?:\w+\.)?(status|direction|sender_role|mode|state)\s*(?:=|<>|!=|IN)\s*"
    r"(\('[a-z_]+'(?:\s*,\s*'[a-z_]+')*\)|'[a-z_]+')",
    re.IGNORECASE,
)


def spelled_states() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        if "sandbox" in path.parts:
            continue
        for sql in re.findall(r'"""([\s\S]*?)"""', path.read_text()):
            for column, values in COMPARED.findall(sql):
                for value in re.findall(r"'([a-z_]+)'", values):
                    found.append((str(path.relative_to(APP)), column.lower(), value))
    return found


def test_every_state_the_statements_spell_is_a_member() -> None:
    found = spelled_states()
    assert len(found) > 20  # the scan does find the statements' states
    unknown = [f for f in found if f[2] not in COLUMNS[f[1]]]
    assert not unknown, unknown


def test_the_models_constraints_allow_exactly_the_members() -> None:
    allowed = {
        ("messages", "status"): set(MessageStatus),
        ("messages", "direction"): set(MessageDirection),
        ("messages", "sender_role"): set(SenderRole),
        ("conversations", "mode"): set(ConversationMode),
        ("channels", "status"): set(ChannelStatus),
        ("channels", "kind"): set(ChannelKind),
        ("credit_reservations", "state"): set(ReservationState),
    }
    for (table, column), members in allowed.items():
        checks = [c for c in Base.metadata.tables[table].constraints
                  if isinstance(c, CheckConstraint) and str(c.sqltext).startswith(f"{column} IN")]
        assert len(checks) == 1, (table, column)
        assert set(re.findall(r"'([a-z_]+)'", str(checks[0].sqltext))) == {m.value for m in members}
