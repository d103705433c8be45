"""The model call: OpenAI Responses API through the real SDK.

Context is chained with `previous_response_id`. When the chain is gone (expired after 30 days,
reset by us, or a provider that lost it) the input is rebuilt from our own stored history.
A failed generation can come back with HTTP 200, so `status` is checked, not only exceptions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import openai
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.variables import CallContext, prompt_variables
from app.ai.guard import ModelError, accept, guarded
from app.metrics import MODEL_ERRORS
from app.models import Agent, Attachment, Conversation, Message
from app.runtime import Runtime

log = logging.getLogger("app.ai")

HISTORY_LIMIT = 50
HANDBACK_NOTE = (
    "A human operator was handling this conversation and has now handed it back to you. "
    "Their messages are in the history as assistant turns; continue from there."
)


HANDOFF_TOOL_NAME = "request_human"
# Offered on every turn of an agent with hand-off on (a Responses API function tool).
HANDOFF_TOOL: dict[str, Any] = {
    "type": "function",
    "name": HANDOFF_TOOL_NAME,
    "description": (
        "Hand the conversation to a human operator of the business. Call it when the customer "
        "asks for a person, or when you cannot help them. Also write a short message telling "
        "the customer that a person will follow up here."
    ),
    "parameters": {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why a person is needed."}},
        "required": ["reason"],
        "additionalProperties": False,
    },
    "strict": True,
}
# Said to the customer when the model asked for a person without saying anything itself.
HANDOFF_FALLBACK_TEXT = "I'm passing you to a member of our team; they will reply here shortly."


@dataclass
class ModelReply:
    text: str
    response_id: str
    model: str
    usage: dict[str, int]
    sandbox: bool
    # Set when the model called the hand-off tool: the conversation goes to an operator.
    handoff_reason: str | None = None
    # The agent's fallback text for a batch it could not read (app/media/inbound.py).
    fallback: bool = False


def handoff_reason(output: Any) -> str | None:
    """The reason of a hand-off tool call among a response's output items (JSON), if any."""
    for item in output or ():
        if item.get("type") == "function_call" and item.get("name") == HANDOFF_TOOL_NAME:
            try:
                args = json.loads(item.get("arguments") or "{}")
            except ValueError:
                args = {}
            reason = args.get("reason") if isinstance(args, dict) else None
            return str(reason or "the model asked for a person")[:500]
    return None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ModelResponse:
    """The fields of a Responses API response that a reply uses, read from its JSON.

    The SDK's typed `responses.create` validates its arguments against the request's
    TypedDicts and builds a pydantic model of the whole response (every output item, content
    part and annotation), of which a reply reads six fields: that was a third of the model
    call's CPU in a worker (py-spy, e2e load). The call still goes through the SDK's client
    (`AsyncOpenAI.post`), with its authentication, retries and error mapping."""

    id: str
    model: str | None
    status: str | None
    error: Any
    usage: Usage | None
    output_text: str = field(default="")
    # The reason of a hand-off tool call in the output, if the model made one.
    handoff_reason: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> ModelResponse:
        # The SDK's `Response.output_text`: every output_text part of every message item.
        text = "".join(
            part.get("text") or ""
            for item in data.get("output") or () if item.get("type") == "message"
            for part in item.get("content") or () if part.get("type") == "output_text"
        )
        u = data.get("usage")
        usage = Usage(u.get("input_tokens") or 0, u.get("output_tokens") or 0) if u else None
        return cls(id=data["id"], model=data.get("model"), status=data.get("status"),
                   error=data.get("error"), usage=usage, output_text=text,
                   handoff_reason=handoff_reason(data.get("output")))


async def create_response(rt: Runtime, body: dict[str, Any]) -> ModelResponse:
    """POST /responses: the SDK's request path (auth, retries, APIStatusError on failure),
    the answer read as JSON rather than as the SDK's models."""
    raw = await rt.openai.post("/responses", cast_to=httpx2.Response, body=body)
    return ModelResponse.of(orjson.loads(raw.content))


def _is_chain_missing(exc: openai.APIStatusError) -> bool:
    if exc.status_code not in (400, 404):
        return False
    return exc.code == "previous_response_not_found" or exc.param == "previous_response_id" or (
        "previous response" in str(exc.message).lower()
    )


async def history_input(
    session: AsyncSession, conversation: Conversation, before_seq: int
) -> list[dict[str, Any]]:
    """The conversation since its context boundary, as Responses API input items. A voice
    note (no text) is its transcript; COALESCE looks it up only for rows without text."""
    transcript = (
        select(func.string_agg(Attachment.transcript, " "))
        .where(Attachment.message_id == Message.id, Attachment.transcript.is_not(None))
        .scalar_subquery()
    )
    said = func.coalesce(Message.text, transcript)
    rows = (await session.execute(
        select(Message.direction, Message.sender_role, said)
        .where(
            Message.conversation_id == conversation.id,
            Message.seq > conversation.context_start_seq,
            Message.seq < before_seq,
            said.is_not(None),
            Message.status.not_in(("failed", "skipped")),
            Message.direction != "system",
        )
        .order_by(Message.seq.desc()).limit(HISTORY_LIMIT)
    )).all()
    return [
        {"role": "user" if d == "inbound" else "assistant", "content": t or ""}
        for d, _, t in reversed(rows)
    ]


def _request(
    agent: Agent, conversation: Conversation, items: list[dict[str, Any]], ctx: CallContext
) -> dict[str, Any]:
    req: dict[str, Any] = {
        "input": items,
        "metadata": {"conversation_id": str(conversation.id), "tenant_id": str(agent.tenant_id)},
        "safety_identifier": hashlib.sha256(str(conversation.contact_id).encode()).hexdigest()[:64],
        "store": True,
    }
    if agent.model:
        # Only when the agent names one: a model sent here overrides the prompt's own.
        req["model"] = agent.model
    if agent.prompt_id:
        prompt: dict[str, Any] = {
            "id": agent.prompt_id,
            "variables": prompt_variables(agent, ctx, datetime.now(UTC)),
        }
        if agent.prompt_version:
            prompt["version"] = agent.prompt_version
        req["prompt"] = prompt
    if agent.instructions:
        # Instructions are not carried along a previous_response_id chain: send every turn.
        req["instructions"] = agent.instructions
    if agent.handoff_enabled:
        req["tools"] = [HANDOFF_TOOL]
    return req


async def generate_reply(
    rt: Runtime,
    agent: Agent,
    conversation: Conversation,
    batch: list[Message],
    ctx: CallContext,
    content: dict[uuid.UUID, list[dict[str, Any]]] | None = None,
) -> ModelReply:
    """`content`: the input parts of rows that are not plain text (files, transcripts,
    locations read as text are plain), from app/media/inbound.py."""
    parts = content or {}
    turn: list[dict[str, Any]] = [
        {"role": "user", "content": parts.get(m.id) or m.text or ""} for m in batch
    ]
    handed_back = conversation.handed_back_at is not None
    chain = conversation.context_response_id if not handed_back else None
    if handed_back:
        turn = [{"role": "developer", "content": HANDBACK_NOTE}, *turn]
    async with guarded(rt, "model") as b:
        if chain:
            try:
                response = await create_response(
                    rt, {**_request(agent, conversation, turn, ctx), "previous_response_id": chain}
                )
            except openai.APIStatusError as exc:
                if not _is_chain_missing(exc):
                    raise
                log.info("model context chain is gone; rebuilding from history")
                chain = None
        if not chain:
            # A short session of its own: no pooled connection is held through a model call.
            async with rt.sessions() as session:
                history = await history_input(session, conversation, batch[0].seq)
            response = await create_response(
                rt, _request(agent, conversation, [*history, *turn], ctx))
    usage = accept(b, response)
    text = response.output_text.strip()
    handoff = response.handoff_reason
    if handoff is not None and not text:
        text = HANDOFF_FALLBACK_TEXT
    if not text:
        b.failure()
        MODEL_ERRORS.labels("empty").inc()
        raise ModelError("model_empty", "no text in the response (refusal or incomplete)")
    return ModelReply(text=text, response_id=response.id,
                      model=str(response.model or agent.model or ""), usage=usage,
                      sandbox=rt.settings.sandbox_model, handoff_reason=handoff)


__all__ = ["HANDBACK_NOTE", "HANDOFF_TOOL", "ModelError", "ModelReply", "ModelResponse",
           "create_response", "generate_reply", "history_input"]
