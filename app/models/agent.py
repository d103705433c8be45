from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk


class Agent(Base):
    """The AI agent answering a channel. At most one live agent per channel."""

    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint("credits_per_reply >= 1", name="credits_per_reply_positive"),
        CheckConstraint("media_credits >= 0", name="media_credits_non_negative"),
        # Without a model of its own, the dashboard prompt's model answers.
        CheckConstraint("model IS NOT NULL OR prompt_id IS NOT NULL", name="model_or_prompt"),
        Index(
            "uq_agents_channel_id_live",
            "channel_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_agents_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channels.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    # Sent only when set: it overrides the model a dashboard prompt names.
    model: Mapped[str | None] = mapped_column(String(100))
    instructions: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Optional OpenAI dashboard prompt template used instead of `instructions`.
    prompt_id: Mapped[str | None] = mapped_column(String(200))
    prompt_version: Mapped[str | None] = mapped_column(String(50))
    # The agent's own prompt variables (name -> string), sent with the platform's own on every
    # model call (app/agents/variables.py); like the prompt, fixed for the agent's life.
    prompt_variables: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    # IANA name: the day `local_date` names is the business's day, not the server's.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    credits_per_reply: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The model is offered a tool to hand the conversation to a person (app/ai/responses.py).
    handoff_enabled: Mapped[bool] = mapped_column(default=True, server_default="true")
    # Said when a message cannot be used (a failed download, a file over the limit, a type
    # the agent cannot read); None: MEDIA_FALLBACK_TEXT.
    media_fallback_text: Mapped[str | None] = mapped_column(Text)
    # Extra credits for a reply whose batch had a voice note, audio or image the agent read
    # (transcription, image input); 0: media cost nothing beyond the reply.
    media_credits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
