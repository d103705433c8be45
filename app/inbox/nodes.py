"""The team inbox's GraphQL nodes and enums that conversations also show (an assignee, a
status), kept apart from the inbox's queries and mutations so conversations can import them."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from app.conversations.pages import Row
from app.models import Operator
from app.models.states import ConversationStatus

strawberry.enum(ConversationStatus, description=(
    "OPEN: needs work. PENDING: waiting on something else. RESOLVED: done (a customer "
    "message reopens it). SNOOZED: set aside until snoozedUntil, then OPEN again (a customer "
    "message ends the snooze early)."
))  # the state's own StrEnum, as a GraphQL enum


@strawberry.enum(description=(
    "MINE: assigned to the calling operator (needs an operator's key). UNASSIGNED: nobody's. "
    "ASSIGNED: anybody's."
))
class AssigneeScope(enum.Enum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"


@strawberry.enum(description=(
    "Newest first, each with the id as tie-break (stable cursors). UNREAD_FIRST: "
    "conversations with customer messages the calling operator has not read, then the rest, "
    "each by last activity (needs an operator's key)."
))
class ConversationOrder(enum.Enum):
    LAST_ACTIVITY = "last_activity"
    CREATED = "created"
    UNREAD_FIRST = "unread_first"


@strawberry.enum(description="ADMIN manages operators; AGENT works conversations.")
class OperatorRole(enum.Enum):
    ADMIN = "admin"
    AGENT = "agent"


@strawberry.type(name="Operator", description=(
    "A person who works the tenant's inbox, with API keys of their own."
))
class OperatorType:
    id: strawberry.ID
    name: str
    email: str
    role: OperatorRole
    created_at: datetime
    deactivated_at: datetime | None = strawberry.field(description=(
        "Set when the operator left the team (deactivateOperator)."
    ))

    @classmethod
    def from_row(cls, row: Operator) -> OperatorType:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, email=row.email,
                   role=OperatorRole(row.role), created_at=row.created_at,
                   deactivated_at=row.deactivated_at)

    @classmethod
    def from_record(cls, r: Row) -> OperatorType:
        return cls(id=strawberry.ID(str(r["id"])), name=r["name"], email=r["email"],
                   role=OperatorRole(r["role"]), created_at=r["created_at"],
                   deactivated_at=r["deactivated_at"])
