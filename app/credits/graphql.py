"""Credits: the tenant's ledger. The admin's grants answer with the tenant: app/tenants/graphql.py."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.credits import repository
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.pagination import Connection, connection, decode_time_id, page_size, time_id_cursor
from app.graphql.permissions import require_tenant
from app.graphql.writes import read
from app.models import CreditLedgerEntry as LedgerRow

LEDGER_CURSOR = "ledger"


@strawberry.type(name="CreditLedgerEntry")
class CreditLedgerEntryType:
    id: strawberry.ID
    delta: int = strawberry.field(description="Positive for grants and releases, negative for charges.")
    kind: str = strawberry.field(description="grant, reserve or release.")
    reason: str
    balance_after: int
    conversation_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: LedgerRow) -> CreditLedgerEntryType:
        return cls(
            id=strawberry.ID(str(row.id)), delta=row.delta, kind=row.kind, reason=row.reason,
            balance_after=row.balance_after,
            conversation_id=strawberry.ID(str(row.conversation_id)) if row.conversation_id else None,
            created_at=row.created_at,
        )


def _cursor(row: LedgerRow) -> str:
    return time_id_cursor(LEDGER_CURSOR, row.created_at, row.id)


@strawberry.type
class CreditQuery:
    @gql.field("Every credit movement of the tenant, newest first.")
    async def credit_ledger(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[CreditLedgerEntryType]:
        tenant_id = await require_tenant(info)
        limit = page_size(first)
        before = decode_time_id(after, LEDGER_CURSOR) if after else None
        async with read(info) as session:
            rows = await repository.ledger_page(session, tenant_id, limit + 1, before)
        return connection(rows, limit, CreditLedgerEntryType.from_row, _cursor,
                          has_previous=after is not None)

