"""Agents: the AI answering a channel. At most one live agent per channel."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.agents import repository, service
from app.channels.graphql import ChannelType
from app.errors import NotFound, present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.models import Agent as AgentRow


@strawberry.type(name="PromptVariable")
class PromptVariableType:
    name: str
    value: str


@strawberry.input
class PromptVariableInput:
    name: str = strawberry.field(description="Letters, digits and _, at most 64 characters.")
    value: str = strawberry.field(description="At most 1,000 characters.")


_IMMUTABLE = (
    "Fixed for the agent's life: a different value is refused with AGENT_PROMPT_IMMUTABLE "
    "(a new prompt is a new agent: createAgent). The current value is accepted."
)


@strawberry.type(name="Agent")
class AgentType:
    id: strawberry.ID
    name: str
    model: str | None = strawberry.field(description=(
        "Sent with every model call when set; null: the dashboard prompt's own model answers."
    ))
    instructions: str
    prompt_id: str | None = strawberry.field(description=(
        "An OpenAI dashboard prompt used instead of `instructions`."
    ))
    prompt_version: str | None
    prompt_variables: list[PromptVariableType] = strawberry.field(description=(
        "The agent's own prompt variables, sent with the platform's (customer_name, "
        "channel_kind, business_name, local_date) as `prompt.variables` on every model call. "
        "By name."
    ))
    time_zone: str = strawberry.field(description="IANA time zone of `local_date`.")
    credits_per_reply: int
    handoff_enabled: bool = strawberry.field(description=(
        "The model may hand the conversation to a person (mode HUMAN) when the customer asks "
        "for one or it cannot help."
    ))
    media_credits: int = strawberry.field(description=(
        "Extra credits for a reply whose batch had a voice note, audio or image the agent "
        "read; 0 (the default): media cost nothing beyond the reply. Refunded when the agent "
        "could not use them (the fallback costs like a reply)."
    ))
    media_fallback_text: str | None = strawberry.field(description=(
        "The reply to a message the agent cannot use (a file that could not be downloaded or "
        "is over the limit, a type it cannot read); null: the platform's MEDIA_FALLBACK_TEXT."
    ))
    created_at: datetime
    updated_at: datetime
    channel_pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: AgentRow) -> AgentType:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, model=row.model,
            instructions=row.instructions, prompt_id=row.prompt_id,
            prompt_version=row.prompt_version,
            prompt_variables=[PromptVariableType(name=str(k), value=str(v))
                              for k, v in sorted(row.prompt_variables.items())],
            time_zone=row.time_zone, credits_per_reply=row.credits_per_reply,
            handoff_enabled=row.handoff_enabled, media_fallback_text=row.media_fallback_text,
            media_credits=row.media_credits,
            created_at=row.created_at,
            updated_at=row.updated_at, channel_pk=row.channel_id,
        )

    @strawberry.field
    async def channel(self, info: Info) -> ChannelType:
        # An agent's channel row outlives it (soft delete).
        row = present(await info.context.loaders.channel.load(self.channel_pk), "agent's channel")
        return ChannelType.from_row(row)


MODEL_HELP = "One of the models the platform allows (its AGENT_MODELS setting)."
INSTRUCTIONS_HELP = f"At most {service.MAX_INSTRUCTIONS_CHARS} characters."
CREDITS_HELP = (
    "What one reply costs the tenant: at least the platform's minimum (MIN_CREDITS_PER_REPLY, "
    f"1 unless configured), at most {service.MAX_CREDITS_PER_REPLY}."
)


@strawberry.input
class CreateAgentInput:
    channel_id: strawberry.ID
    name: str = strawberry.field(description=f"At most {service.MAX_NAME_CHARS} characters.")
    model: str | None = strawberry.field(default=None, description=(
        MODEL_HELP + " Required without a promptId; with one, leave it out to use the prompt's "
        "own model."
    ))
    instructions: str = strawberry.field(default="", description=INSTRUCTIONS_HELP)
    prompt_id: str | None = None
    prompt_version: str | None = None
    credits_per_reply: int | None = strawberry.field(default=None, description=(
        CREDITS_HELP + " Defaults to the minimum."
    ))
    prompt_variables: list[PromptVariableInput] | None = strawberry.field(
        default=None, description="Needs a promptId. At most 20; names of the platform's own "
        "(customer_name, channel_kind, business_name, local_date) are refused.",
    )
    time_zone: str = strawberry.field(default="UTC", description=(
        "IANA time zone (e.g. America/Mexico_City) of the `local_date` prompt variable."
    ))
    handoff_enabled: bool = True
    media_fallback_text: str | None = strawberry.field(default=None, description=(
        "At most 1,000 characters; null or empty: the platform's MEDIA_FALLBACK_TEXT."))
    media_credits: int = 0


@strawberry.input
class UpdateAgentInput:
    name: str | None = None
    model: str | None = strawberry.field(default=None, description=_IMMUTABLE)
    instructions: str | None = strawberry.field(default=None, description=_IMMUTABLE)
    prompt_id: str | None = strawberry.field(default=None, description=_IMMUTABLE)
    prompt_version: str | None = strawberry.field(default=None, description=_IMMUTABLE)
    credits_per_reply: int | None = strawberry.field(default=None, description=CREDITS_HELP)
    time_zone: str | None = None
    handoff_enabled: bool | None = None
    media_fallback_text: str | None = strawberry.field(default=None, description=(
        "Editable in place; an empty text goes back to the platform's MEDIA_FALLBACK_TEXT."))
    media_credits: int | None = None


@strawberry.type
class AgentQuery:
    @gql.field("The tenant's live agents.")
    async def agents(self, info: Info) -> list[AgentType]:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await repository.list_agents(session, tenant_id)
        return [AgentType.from_row(r) for r in rows]

    @strawberry.field
    async def agent(self, info: Info, id: strawberry.ID) -> AgentType | None:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            row = await repository.get_agent(session, tenant_id, parse_id(id, "agent"))
        if row is None:
            raise NotFound("agent")
        return AgentType.from_row(row)


@strawberry.type
class AgentMutation:
    # deleteChannel is the channel's mutation, answered here: deleting a channel retires its
    # agent (agents sit above channels). First, so the schema lists it after the other
    # channel mutations.
    @gql.mutation(
        "Delete a channel: its agent is retired and its conversations archived, in one "
        "transaction. Returns the deleted channel's id."
    )
    async def delete_channel(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.delete_channel(session, tenant_id, parse_id(id, "channel"))
        return id

    @gql.mutation(
        "Give a channel its agent, or a new prompt: if the channel already had one, that agent "
        "is retired and the channel's conversations are archived, in the same transaction."
    )
    async def create_agent(self, info: Info, input: CreateAgentInput) -> AgentType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.create_agent(
                session, info.context.rt.settings, tenant_id,
                channel_id=parse_id(input.channel_id, "channel"), name=input.name,
                model=input.model, instructions=input.instructions, prompt_id=input.prompt_id,
                prompt_version=input.prompt_version, credits_per_reply=input.credits_per_reply,
                prompt_variables=[(v.name, v.value) for v in input.prompt_variables or []],
                time_zone=input.time_zone, handoff_enabled=input.handoff_enabled,
                media_fallback_text=input.media_fallback_text,
                media_credits=input.media_credits,
            )
            await session.refresh(row)
        return AgentType.from_row(row)

    @gql.mutation(
        "Rename the agent, change its price, time zone, hand-off or fallback text, in place. "
        "Its prompt, model and instructions are fixed: a change is AGENT_PROMPT_IMMUTABLE "
        "(use createAgent)."
    )
    async def update_agent(self, info: Info, id: strawberry.ID, input: UpdateAgentInput) -> AgentType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.update_agent(
                session, info.context.rt.settings, tenant_id, parse_id(id, "agent"),
                name=input.name, model=input.model, instructions=input.instructions,
                prompt_id=input.prompt_id, prompt_version=input.prompt_version,
                credits_per_reply=input.credits_per_reply,
                time_zone=input.time_zone, handoff_enabled=input.handoff_enabled,
                media_fallback_text=input.media_fallback_text,
                media_credits=input.media_credits,
            )
            await session.refresh(row)
        return AgentType.from_row(row)

    @gql.mutation(
        "Remove an agent; the channel's conversations are archived with it. Returns its id."
    )
    async def delete_agent(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.delete_agent(session, tenant_id, parse_id(id, "agent"))
        return id
