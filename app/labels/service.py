"""A tenant's labels: create, rename or recolour, delete. Every query is scoped by tenant."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadUserInput, Conflict, LimitReached, NotFound
from app.models import Label

MAX_NAME_CHARS = 50
MAX_LABELS = 200
DEFAULT_COLOR = "#64748b"
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise BadUserInput("name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name must be at most {MAX_NAME_CHARS} characters")
    return name


def clean_color(color: str) -> str:
    if not _COLOR.fullmatch(color):
        raise BadUserInput('color must be "#rrggbb", e.g. "#22c55e"')
    return color.lower()


async def list_labels(session: AsyncSession, tenant_id: uuid.UUID) -> list[Label]:
    return list((await session.scalars(
        select(Label).where(Label.tenant_id == tenant_id).order_by(Label.name, Label.id)
    )).all())


async def get_label(session: AsyncSession, tenant_id: uuid.UUID, label_id: uuid.UUID) -> Label:
    label = await session.scalar(
        select(Label).where(Label.id == label_id, Label.tenant_id == tenant_id)
    )
    if label is None:
        raise NotFound("label")
    return label


async def create_label(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, color: str | None
) -> Label:
    name = clean_name(name)
    color = clean_color(color) if color is not None else DEFAULT_COLOR
    count = await session.scalar(select(func.count()).where(Label.tenant_id == tenant_id))
    if (count or 0) >= MAX_LABELS:
        raise LimitReached(f"a tenant has at most {MAX_LABELS} labels: delete one first")
    label_id = await session.scalar(
        insert(Label).values(id=uuid.uuid4(), tenant_id=tenant_id, name=name, color=color)
        .on_conflict_do_nothing().returning(Label.id)
    )
    if label_id is None:
        raise Conflict(f"a label named {name!r} already exists")
    return await get_label(session, tenant_id, label_id)


async def update_label(
    session: AsyncSession, tenant_id: uuid.UUID, label_id: uuid.UUID,
    name: str | None, color: str | None,
) -> Label:
    label = await get_label(session, tenant_id, label_id)
    if name is not None:
        name = clean_name(name)
        taken = await session.scalar(select(Label.id).where(
            Label.tenant_id == tenant_id, Label.name == name, Label.id != label_id))
        if taken is not None:
            raise Conflict(f"a label named {name!r} already exists")
        label.name = name
    if color is not None:
        label.color = clean_color(color)
    try:
        await session.flush()
    except IntegrityError:
        # Another request took the name between the check and this write.
        raise Conflict(f"a label named {name!r} already exists") from None
    return label


async def delete_label(session: AsyncSession, tenant_id: uuid.UUID, label_id: uuid.UUID) -> None:
    """The label leaves every conversation that had it (the link rows cascade)."""
    deleted = await session.scalar(
        delete(Label).where(Label.id == label_id, Label.tenant_id == tenant_id)
        .returning(Label.id)
    )
    if deleted is None:
        raise NotFound("label")
