"""Agents: one live agent per channel. Replacing or removing it archives the conversations."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository
from app.agents.variables import validate_time_zone, validate_variables
from app.channels import repository as channels
from app.channels.service import cache_key
from app.config import Settings
from app.conversations import service as conversations
from app.effects import invalidate
from app.errors import AgentPromptImmutable, BadUserInput, NotFound, ValidationFailed
from app.models import Agent, Channel

MAX_NAME_CHARS = 200
# About 5,000 tokens: a long system prompt, not a document sent with every reply.
MAX_INSTRUCTIONS_CHARS = 20_000
MAX_PROMPT_ID_CHARS = 200
MAX_PROMPT_VERSION_CHARS = 50
MAX_CREDITS_PER_REPLY = 1_000_000


def _check_length(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise BadUserInput(f"{field} must be at most {limit} characters")


def _validate(
    settings: Settings, *, name: str | None, model: str | None, instructions: str | None,
    prompt_id: str | None, prompt_version: str | None, credits_per_reply: int | None,
) -> None:
    """What a tenant may set: the platform pays for every model call, so the price of a reply
    and the model it runs on are the operator's to bound (MIN_CREDITS_PER_REPLY, AGENT_MODELS)."""
    if name is not None and not name.strip():
        raise ValidationFailed("name must not be empty")
    _check_length("name", name, MAX_NAME_CHARS)
    if model is not None and model.strip() not in settings.allowed_models:
        raise BadUserInput(f"model must be one of: {', '.join(settings.allowed_models)}")
    _check_length("instructions", instructions, MAX_INSTRUCTIONS_CHARS)
    _check_length("promptId", prompt_id, MAX_PROMPT_ID_CHARS)
    _check_length("promptVersion", prompt_version, MAX_PROMPT_VERSION_CHARS)
    low = settings.min_credits_per_reply
    if credits_per_reply is not None and not low <= credits_per_reply <= MAX_CREDITS_PER_REPLY:
        raise BadUserInput(f"creditsPerReply must be between {low} and {MAX_CREDITS_PER_REPLY}")


async def retire_agent(session: AsyncSession, channel: Channel) -> Agent | None:
    agent = await repository.live_agent_for_channel(session, channel.id)
    if agent is not None:
        agent.deleted_at = func.now()
        await session.flush()
    return agent


async def create_agent(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    *,
    channel_id: uuid.UUID,
    name: str,
    model: str | None,
    instructions: str = "",
    prompt_id: str | None = None,
    prompt_version: str | None = None,
    credits_per_reply: int | None = None,
    prompt_variables: list[tuple[str, str]] | None = None,
    time_zone: str = "UTC",
    handoff_enabled: bool = True,
    media_fallback_text: str | None = None,
    media_credits: int = 0,
) -> Agent:
    """`credits_per_reply`: the platform's minimum when not given."""
    _validate(settings, name=name, model=model, instructions=instructions, prompt_id=prompt_id,
              prompt_version=prompt_version, credits_per_reply=credits_per_reply)
    model = (model or "").strip() or None
    if model is None and not prompt_id:
        # Nothing else would name a model for the call.
        raise ValidationFailed("model: required unless a promptId is given")
    variables = validate_variables(prompt_variables or [])
    if variables and not prompt_id:
        raise ValidationFailed("promptVariables: only a dashboard prompt (promptId) uses them")
    zone = validate_time_zone(time_zone)
    channel = await channels.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    previous = await retire_agent(session, channel)
    if previous is not None:
        # The channel's conversations belonged to the old agent: same transaction, or nothing.
        await conversations.archive_channel_conversations(session, channel, reason="agent_replaced")
    agent = Agent(
        id=uuid.uuid4(), tenant_id=tenant_id, channel_id=channel.id, name=name.strip(),
        model=model, instructions=instructions or "",
        prompt_id=prompt_id or None, prompt_version=prompt_version or None,
        credits_per_reply=(
            settings.min_credits_per_reply if credits_per_reply is None else credits_per_reply
        ),
        prompt_variables=variables, time_zone=zone, handoff_enabled=handoff_enabled,
        media_fallback_text=fallback_text(media_fallback_text),
        media_credits=check_media_credits(media_credits),
    )
    session.add(agent)
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return agent


async def update_agent(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    *,
    name: str | None = None,
    model: str | None = None,
    instructions: str | None = None,
    prompt_id: str | None = None,
    prompt_version: str | None = None,
    credits_per_reply: int | None = None,
    time_zone: str | None = None,
    handoff_enabled: bool | None = None,
    media_fallback_text: str | None = None,
    media_credits: int | None = None,
) -> Agent:
    """Name, price, time zone and hand-off change in place; the prompt does not (see
    _refuse_new_prompt)."""
    _validate(settings, name=name, model=model, instructions=instructions, prompt_id=prompt_id,
              prompt_version=prompt_version, credits_per_reply=credits_per_reply)
    agent = await repository.get_agent(session, tenant_id, agent_id)
    if agent is None:
        raise NotFound("agent")
    _refuse_new_prompt(agent, model=model, instructions=instructions, prompt_id=prompt_id,
                       prompt_version=prompt_version)
    if name is not None:
        agent.name = name.strip()
    if credits_per_reply is not None:
        agent.credits_per_reply = credits_per_reply
    if time_zone is not None:
        agent.time_zone = validate_time_zone(time_zone)
    if handoff_enabled is not None:
        agent.handoff_enabled = handoff_enabled
    if media_fallback_text is not None:
        # An empty text goes back to the platform's MEDIA_FALLBACK_TEXT.
        agent.media_fallback_text = fallback_text(media_fallback_text)
    if media_credits is not None:
        agent.media_credits = check_media_credits(media_credits)
    await session.flush()
    channel = await session.get(Channel, agent.channel_id)
    if channel is not None:
        invalidate(session, cache_key(channel.kind, channel.provider_account_id))
    return agent


def _refuse_new_prompt(
    agent: Agent, *, model: str | None, instructions: str | None, prompt_id: str | None,
    prompt_version: str | None,
) -> None:
    """A different prompt, model or instructions would answer conversations whose context the
    old ones built: that is a new agent, which createAgent makes and archives for. Sending the
    current value again is no change and is accepted."""
    # (field, value asked for, as it would be stored, current value)
    asked = [
        ("model", model, (model or "").strip() or None, agent.model),
        ("instructions", instructions, instructions, agent.instructions),
        ("promptId", prompt_id, prompt_id or None, agent.prompt_id),
        ("promptVersion", prompt_version, prompt_version or None, agent.prompt_version),
    ]
    changed = [field for field, value, stored, current in asked
               if value is not None and stored != current]
    if changed:
        raise AgentPromptImmutable(
            f"{', '.join(changed)} cannot change in place: a new prompt is a new agent. "
            "Create one with createAgent on the same channel; it retires this agent and "
            "archives the channel's conversations in the same transaction."
        )


async def delete_agent(session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    agent = await repository.get_agent(session, tenant_id, agent_id)
    if agent is None:
        raise NotFound("agent")
    channel = await channels.get_channel(session, tenant_id, agent.channel_id, for_update=True)
    if channel is None:
        # The channel was deleted meanwhile, and its agent retired with it.
        raise NotFound("agent")
    await conversations.archive_channel_conversations(session, channel, reason="agent_deleted")
    agent.deleted_at = func.now()
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))


MAX_FALLBACK_CHARS = 1000


def fallback_text(text: str | None) -> str | None:
    """The agent's reply to a message it cannot use; None (empty) for the platform's default."""
    value = (text or "").strip()
    if len(value) > MAX_FALLBACK_CHARS:
        raise BadUserInput(f"mediaFallbackText: at most {MAX_FALLBACK_CHARS} characters")
    return value or None


def check_media_credits(value: int) -> int:
    if not 0 <= value <= 1_000_000:
        raise BadUserInput("mediaCredits: from 0 to 1,000,000")
    return value
async def delete_channel(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
    """Deleting a channel retires its agent and archives its conversations: it lives here, above
    both channels and conversations, in one transaction with them."""
    channel = await channels.get_channel(session, tenant_id, channel_id, for_update=True)
    if channel is None:
        raise NotFound("channel")
    await conversations.archive_channel_conversations(session, channel, reason="channel_deleted")
    await retire_agent(session, channel)
    channel.deleted_at = func.now()
    await session.flush()
    invalidate(session, cache_key(channel.kind, channel.provider_account_id))
