from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class OrderingLease(Base):
    """The fencing record of an ordering key's lock.

    Redis holds the fast lock; this row decides who may commit. A worker writes only while its
    token is here and unexpired, so a holder whose Redis lease lapsed (or whose lock a Redis
    flush erased) cannot commit over the next holder.
    """

    __tablename__ = "ordering_leases"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
