"""Fake OpenAI Responses API: the "sandbox model".

Replies are deterministic so tests can assert on them: the text is ``"[sandbox] "`` plus the
user texts of this request's own ``input`` joined by ``" | "`` (chain history is not echoed),
which shows which inbound messages a reply covered and in which order. The real ``openai``
SDK talks to it unchanged (external-apis.md C6). A request needs a ``model`` unless it names a
dashboard ``prompt``, whose model (``gpt-4.1-prompt`` here) then answers.

Admin endpoints (tests and workers live in other processes, so all control is HTTP):

- ``POST /_fake/config``: partial update of ``latency_ms``, ``latency_jitter_ms``,
  ``structured_output`` (JSON sent verbatim for json_schema requests; null = generate from
  the schema), ``raw_output_text`` (exact output text, also for malformed JSON; null = off),
  ``fail`` (FIFO list replacing the current one, one entry per request including SDK
  retries; entries ``{"status", "code", "type", "message", "param", "retry"}`` give an
  error, ``retry: false`` adds ``x-should-retry: false``; with ``status: 200`` the keys
  ``"failed": true``, ``"incomplete": "<reason>"`` or ``"refusal": "<text>"`` shape the
  reply instead) and ``fail_all`` (an entry applied to every request; null clears it).
  ``GET /_fake/config`` shows the current values.
- ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``): the sandbox
  transcription, ``{"text"}`` (openai_payloads.transcript_of); ``GET /_fake/transcriptions``.
- Images and files in the input are acknowledged in the reply (``[image image/jpeg]``,
  ``[file invoice.pdf]``).
- ``POST /_fake/forget`` drops stored responses (an expired chain), ``GET /_fake/requests``,
  ``POST /_fake/reset`` (back to the create_app values), ``GET /_fake/health``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.sandbox.openai_payloads import (
    Json,
    approx_tokens,
    error_response,
    handoff_call,
    input_items,
    new_id,
    response_object,
    transcript_of,
    turn_texts,
    user_texts,
    value_from_schema,
)


class OpenAIState:
    """Everything the fake remembers; one instance per app, used from one event loop."""

    def __init__(self, latency_ms: float, latency_jitter_ms: float) -> None:
        self._initial = (latency_ms, latency_jitter_ms)
        self.requests: list[Json] = []
        self.responses: dict[str, Json] = {}
        self.histories: dict[str, list[Json]] = {}
        self.conversations: dict[str, Json] = {}
        self.transcriptions: list[Json] = []
        self.reset()

    def reset(self) -> None:
        self.latency_ms, self.latency_jitter_ms = self._initial
        self.structured_output: Any = None
        self.raw_output_text: str | None = None
        self.fail: list[Json] = []
        self.fail_all: Json | None = None
        self.requests.clear()
        self.transcriptions.clear()
        self.forget()
        self.conversations.clear()

    def forget(self) -> None:
        self.responses.clear()
        self.histories.clear()

    def config(self) -> Json:
        return {
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "structured_output": self.structured_output,
            "raw_output_text": self.raw_output_text,
            "fail": self.fail,
            "fail_all": self.fail_all,
        }

    def output_text(self, body: Json, texts: list[str]) -> str:
        if self.raw_output_text is not None:
            return self.raw_output_text
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            if self.structured_output is not None:
                return json.dumps(self.structured_output, ensure_ascii=False)
            return json.dumps(value_from_schema(fmt.get("schema") or {}), ensure_ascii=False)
        return "[sandbox] " + " | ".join(texts)


def create_app(latency_ms: float = 0, latency_jitter_ms: float = 0) -> Starlette:
    state = OpenAIState(latency_ms, latency_jitter_ms)

    async def create_response(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        items = input_items(body.get("input")) if isinstance(body, dict) else []
        record: Json = {
            "id": len(state.requests) + 1,
            "ts": time.time(),
            "body": body,
            "retry_count": request.headers.get("x-stainless-retry-count"),
            "authorization": request.headers.get("authorization"),
            "user_texts": user_texts(items),
            "history_length": None,
            "status": None,
        }
        state.requests.append(record)
        delay_ms = state.latency_ms + random.uniform(0, state.latency_jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

        def error(status: int, entry: Json | None = None, **fields: Any) -> JSONResponse:
            record["status"] = status
            return error_response(status, entry, **fields)

        # A dashboard prompt carries its model: only a request without either lacks one.
        if not isinstance(body, dict) or not (body.get("model") or body.get("prompt")):
            return error(400, message="Missing required parameter: 'model'.", param="model")
        entry = state.fail_all or (state.fail.pop(0) if state.fail else None)
        if entry is not None and int(entry.get("status", 500)) >= 400:
            return error(int(entry.get("status", 500)), entry)

        prev_id = body.get("previous_response_id")
        conv = body.get("conversation")
        conv_id = conv.get("id") if isinstance(conv, dict) else conv
        if prev_id and conv_id:
            return error(
                400,
                message="Cannot use both 'previous_response_id' and 'conversation'.",
                param="previous_response_id",
            )
        history: list[Json] = []
        if prev_id:
            if prev_id not in state.histories:
                return error(
                    400,
                    message=f"Previous response with id '{prev_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            history = list(state.histories[prev_id])
        if conv_id:
            if conv_id not in state.conversations:
                return error(
                    404,
                    message=f"Conversation with id '{conv_id}' not found.",
                    param="conversation",
                )
            history = list(state.conversations[conv_id]["items"])
        record["history_length"] = len(history) + len(items)

        text = state.output_text(body, turn_texts(items))
        part: Json = {"type": "output_text", "text": text, "annotations": []}
        if entry is not None and entry.get("refusal"):
            part = {"type": "refusal", "refusal": str(entry["refusal"])}
        message: Json = {
            "type": "message",
            "id": new_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [part],
        }
        in_tokens = approx_tokens([body.get("instructions"), history, items])
        out_tokens = approx_tokens(text)
        usage = {
            "input_tokens": in_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": in_tokens + out_tokens,
        }
        rid = new_id("resp")
        output: list[Json] = [message]
        call = handoff_call(body, turn_texts(items))
        if call is not None:
            output.append(call)
        response = response_object(body, rid, output, usage)
        record["status"] = 200
        record["response_id"] = rid
        if entry is not None and entry.get("failed"):
            response.update(
                status="failed",
                output=[],
                error={
                    "code": entry.get("code", "server_error"),
                    "message": entry.get("message", "The model failed to generate a response."),
                },
            )
            return JSONResponse(response, headers={"x-request-id": new_id("req")})
        if entry is not None and entry.get("incomplete"):
            message["status"] = "incomplete"
            part["text"] = str(part.get("text", ""))[: max(1, len(text) // 2)]
            response.update(
                status="incomplete", incomplete_details={"reason": str(entry["incomplete"])}
            )
        full_history = [*history, *items, *output]
        if body.get("store", True):
            state.responses[rid] = response
            state.histories[rid] = full_history
        if conv_id:
            state.conversations[conv_id]["items"] = full_history
        return JSONResponse(response, headers={"x-request-id": new_id("req")})

    async def transcribe(request: Request) -> JSONResponse:
        form = await request.form()
        file, model = form.get("file"), form.get("model")
        if file is None or isinstance(file, str) or not model:
            return error_response(400, message="'file' and 'model' are required.", param="file")
        data = await file.read()
        text = transcript_of(data)
        state.transcriptions.append({"model": model, "file_name": file.filename,
                                     "content_type": file.content_type, "size": len(data),
                                     "authorization": request.headers.get("authorization"),
                                     "text": text})
        return JSONResponse({"text": text})

    async def list_transcriptions(_: Request) -> JSONResponse:
        return JSONResponse({"transcriptions": state.transcriptions})

    async def get_response(request: Request) -> JSONResponse:
        rid = request.path_params["rid"]
        if rid not in state.responses:
            return error_response(404, message=f"Response with id '{rid}' not found.")
        if request.method == "DELETE":
            state.responses.pop(rid)
            state.histories.pop(rid, None)
            return JSONResponse({"id": rid, "object": "response.deleted", "deleted": True})
        return JSONResponse(state.responses[rid])

    async def create_conversation(request: Request) -> JSONResponse:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        cid = new_id("conv")
        state.conversations[cid] = {
            "items": input_items(body.get("items") or []),
            "metadata": body.get("metadata") or {},
            "created_at": int(time.time()),
        }
        return JSONResponse(_conversation(cid))

    def _conversation(cid: str) -> Json:
        conv = state.conversations[cid]
        return {
            "id": cid,
            "object": "conversation",
            "created_at": conv["created_at"],
            "metadata": conv["metadata"],
        }

    async def conversation(request: Request) -> JSONResponse:
        cid = request.path_params["cid"]
        if cid not in state.conversations:
            return error_response(404, message=f"Conversation with id '{cid}' not found.")
        if request.method == "DELETE":
            del state.conversations[cid]
            return JSONResponse({"id": cid, "object": "conversation.deleted", "deleted": True})
        return JSONResponse(_conversation(cid))

    async def config(request: Request) -> JSONResponse:
        if request.method == "POST":
            updates = await request.json()
            if not isinstance(updates, dict):
                return JSONResponse({"error": "expected a JSON object"}, status_code=400)
            for key in ("latency_ms", "latency_jitter_ms"):
                if key in updates:
                    setattr(state, key, float(updates[key] or 0))
            for key in ("structured_output", "raw_output_text", "fail_all"):
                if key in updates:
                    setattr(state, key, updates[key])
            if "fail" in updates:
                state.fail = list(updates["fail"] or [])
        return JSONResponse(state.config())

    async def forget(_: Request) -> JSONResponse:
        state.forget()
        return JSONResponse({"ok": True})

    async def list_requests(_: Request) -> JSONResponse:
        return JSONResponse({"requests": state.requests})

    async def reset(_: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"ok": True})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "service": "fake-openai"})

    app = Starlette(
        routes=[
            Route("/v1/responses", create_response, methods=["POST"]),
            Route("/v1/responses/{rid}", get_response, methods=["GET", "DELETE"]),
            Route("/v1/conversations", create_conversation, methods=["POST"]),
            Route("/v1/conversations/{cid}", conversation, methods=["GET", "DELETE"]),
            Route("/v1/audio/transcriptions", transcribe, methods=["POST"]),
            Route("/_fake/transcriptions", list_transcriptions, methods=["GET"]),
            Route("/_fake/config", config, methods=["GET", "POST"]),
            Route("/_fake/forget", forget, methods=["POST"]),
            Route("/_fake/requests", list_requests, methods=["GET"]),
            Route("/_fake/reset", reset, methods=["POST"]),
            Route("/_fake/health", health, methods=["GET"]),
        ]
    )
    app.state.fake = state
    return app
