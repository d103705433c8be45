"""Agents: the AI answering a channel. At most one live agent per channel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.agents import repository, service
from app.errors import NotFound, present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.models import Agent as AgentRow

if TYPE_CHECKING:
    from app.channels.graphql import ChannelType


@strawberry.type(name="Agent")
class AgentType:
    id: strawberry.ID
    name: str
    model: str
    instructions: str
    prompt_id: str | None = strawberry.field(description=(
        "An OpenAI dashboard prompt used instead of `instructions`."
    ))
    prompt_version: str | None
    credits_per_reply: int
    created_at: datetime
    updated_at: datetime
    channel_pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: AgentRow) -> AgentType:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, model=row.model,
            instructions=row.instructions, prompt_id=row.prompt_id,
            prompt_version=row.prompt_version, credits_per_reply=row.credits_per_reply,
            created_at=row.created_at, updated_at=row.updated_at, channel_pk=row.channel_id,
        )

    @strawberry.field
    async def channel(
        self, info: Info
    ) -> Annotated[ChannelType, strawberry.lazy("app.channels.graphql")]:
        from app.channels.graphql import ChannelType

        # An agent's channel row outlives it (soft delete).
        row = present(await info.context.loaders.channel.load(self.channel_pk), "agent's channel")
        return ChannelType.from_row(row)


@strawberry.input
class CreateAgentInput:
    channel_id: strawberry.ID
    name: str
    model: str
    instructions: str = ""
    prompt_id: str | None = None
    prompt_version: str | None = None
    credits_per_reply: int = 1


@strawberry.input
class UpdateAgentInput:
    name: str | None = None
    model: str | None = None
    instructions: str | None = None
    prompt_id: str | None = strawberry.field(default=None, description='"" clears it.')
    prompt_version: str | None = strawberry.field(default=None, description='"" clears it.')
    credits_per_reply: int | None = None


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
    @gql.mutation(
        "Give a channel its agent. If the channel already had one, that agent is retired and "
        "the channel's conversations are archived, in the same transaction."
    )
    async def create_agent(self, info: Info, input: CreateAgentInput) -> AgentType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.create_agent(
                session, tenant_id, channel_id=parse_id(input.channel_id, "channel"),
                name=input.name, model=input.model, instructions=input.instructions,
                prompt_id=input.prompt_id, prompt_version=input.prompt_version,
                credits_per_reply=input.credits_per_reply,
            )
            await session.refresh(row)
        return AgentType.from_row(row)

    @strawberry.mutation
    async def update_agent(self, info: Info, id: strawberry.ID, input: UpdateAgentInput) -> AgentType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.update_agent(
                session, tenant_id, parse_id(id, "agent"), name=input.name, model=input.model,
                instructions=input.instructions, prompt_id=input.prompt_id,
                prompt_version=input.prompt_version, credits_per_reply=input.credits_per_reply,
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
