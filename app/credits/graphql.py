"""Credits: the tenant's ledger. The admin's grants answer with the tenant: app/tenants/graphql.py."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from app.credits import repository
from app.errors import BadUserInput
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.enums import member
from app.graphql.pagination import Connection, connection, decode_time_id, page_size, time_id_cursor
from app.graphql.permissions import require_tenant
from app.graphql.writes import read
from app.models import CreditLedgerEntry as LedgerRow

LEDGER_CURSOR = "ledger"


@strawberry.enum(description=(
    "GRANT: credits added (an admin's grant); RESERVE: credits taken for a reply (a retried "
    "reply's charge too); TEMPLATE: credits taken for a WhatsApp template message; RELEASE: "
    "credits given back (the reply or template was not sent); OTHER: a kind this version does "
    "not name."
))
class CreditKind(enum.StrEnum):
    GRANT = "grant"
    RESERVE = "reserve"
    TEMPLATE = "template"
    RELEASE = "release"
    OTHER = "other"


@strawberry.type(name="CreditLedgerEntry")
class CreditLedgerEntryType:
    id: strawberry.ID
    delta: int = strawberry.field(description="Positive for grants and releases, negative for charges.")
    kind: CreditKind
    reason: str
    balance_after: int
    conversation_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: LedgerRow) -> CreditLedgerEntryType:
        return cls(
            id=strawberry.ID(str(row.id)), delta=row.delta,
            kind=member(CreditKind, row.kind, CreditKind.OTHER), reason=row.reason,
            balance_after=row.balance_after,
            conversation_id=strawberry.ID(str(row.conversation_id)) if row.conversation_id else None,
            created_at=row.created_at,
        )


def _cursor(row: LedgerRow) -> str:
    return time_id_cursor(LEDGER_CURSOR, row.created_at, row.id)


@strawberry.input
class CreditLedgerFilter:
    kinds: list[CreditKind] | None = strawberry.field(default=None, description=(
        "Only entries of these kinds (OTHER cannot be asked for)."
    ))
    created_after: datetime | None = strawberry.field(default=None, description=(
        "Entries after this time."
    ))
    created_before: datetime | None = strawberry.field(default=None, description=(
        "Entries before this time."
    ))


def _check(f: CreditLedgerFilter) -> None:
    if f.kinds is not None and (not f.kinds or CreditKind.OTHER in f.kinds):
        raise BadUserInput("filter.kinds must name at least one of GRANT, RESERVE, TEMPLATE, RELEASE")
    for name, at in (("createdAfter", f.created_after), ("createdBefore", f.created_before)):
        if at is not None and at.tzinfo is None:
            raise BadUserInput(f"filter.{name} needs a time zone")
    if f.created_after is not None and f.created_before is not None and (
            f.created_after >= f.created_before):
        raise BadUserInput("filter.createdBefore must be later than filter.createdAfter")


@strawberry.type
class CreditQuery:
    @gql.field("Every credit movement of the tenant, newest first; `filter` narrows it.")
    async def credit_ledger(
        self, info: Info, first: int | None = None, after: str | None = None,
        filter: CreditLedgerFilter | None = None,
    ) -> Connection[CreditLedgerEntryType]:
        tenant_id = await require_tenant(info)
        limit = page_size(first)
        before = decode_time_id(after, LEDGER_CURSOR) if after else None
        f = filter or CreditLedgerFilter()
        _check(f)
        async with read(info) as session:
            rows = await repository.ledger_page(
                session, tenant_id, limit + 1, before,
                kinds=[k.value for k in f.kinds] if f.kinds is not None else None,
                created_after=f.created_after, created_before=f.created_before,
            )
        return connection(rows, limit, CreditLedgerEntryType.from_row, _cursor,
                          has_previous=after is not None)

