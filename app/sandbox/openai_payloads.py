"""Pure builders for the fake OpenAI server: request parsing, response and error bodies, and
values generated from a JSON schema for structured outputs.

Kept apart from fake_openai.py (state and routes) so each stays small and readable. The
schema generator covers the subset pydantic and the SDK's strict schemas use; anything else
becomes null, which a test sees as a validation error rather than a silent pass.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from starlette.responses import JSONResponse

Json = dict[str, Any]

_ERROR_TYPES = {429: "rate_limit_error"}
_ERROR_MESSAGES = {
    401: "Incorrect API key provided.",
    429: "Rate limit reached for requests (sandbox).",
    500: "The server had an error while processing your request. Sorry about that!",
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def input_items(raw: Any) -> list[Json]:
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, dict)]
    return []


def user_texts(items: list[Json]) -> list[str]:
    """The user-written texts of message items, in order (tool outputs etc. are skipped)."""
    texts: list[str] = []
    for item in items:
        if item.get("role") != "user" or item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                _part_text(part) for part in content
                if isinstance(part, dict)
                and part.get("type") in ("input_text", "text", "input_image", "input_file")
            )
    return texts


def _part_text(part: Json) -> str:
    """A content part as the sandbox model echoes it: images and files are acknowledged."""
    if part.get("type") == "input_image":
        url = str(part.get("image_url") or "")
        mime = url[5:url.index(";")] if url.startswith("data:") and ";" in url else "url"
        return f"[image {mime}]"
    if part.get("type") == "input_file":
        return f"[file {part.get('filename') or 'unnamed'}]"
    return str(part.get("text", ""))


def transcript_of(data: bytes) -> str:
    """The sandbox's deterministic stand-in for a transcription: the recording's bytes when
    they are readable text (tests send words as the 'audio'), else its length."""
    try:
        words = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        words = ""
    if words and words.isprintable():
        return words
    return f"(sandbox transcript of a {len(data)}-byte recording)"


def turn_texts(items: list[Json]) -> list[str]:
    """The user texts of this turn: those after the last assistant item.

    When a client rebuilds context from its own history (no previous_response_id), the earlier
    turns arrive as input too; echoing only the new turn keeps the reply a faithful record of
    which messages it answers.
    """
    start = 0
    for i, item in enumerate(items):
        if item.get("role") == "assistant":
            start = i + 1
    return user_texts(items[start:])


def approx_tokens(value: Any) -> int:
    # Roughly 4 characters per token; enough for tests that check usage grows with history.
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


def error_response(status: int, entry: Json | None = None, **fields: Any) -> JSONResponse:
    """An error in OpenAI's format (C5); retry-after-ms keeps SDK retries fast in tests."""
    spec = {**(entry or {}), **fields}
    code = spec.get("code")
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    default_type = _ERROR_TYPES.get(status, default_type)
    if code == "insufficient_quota":
        default_type = "insufficient_quota"
    body = {
        "error": {
            "message": spec.get("message")
            or _ERROR_MESSAGES.get(status if status < 500 else 500, f"Sandbox error {status}."),
            "type": spec.get("type", default_type),
            "param": spec.get("param"),
            "code": code,
        }
    }
    headers = {"retry-after-ms": "10", "x-request-id": new_id("req")}
    if spec.get("retry") is False:
        headers["x-should-retry"] = "false"
    return JSONResponse(body, status_code=status, headers=headers)


PROMPT_MODEL = "gpt-4.1-prompt"


def response_object(body: Json, rid: str, output: list[Json], usage: Json) -> Json:
    conversation = body.get("conversation")
    if isinstance(conversation, str):
        conversation = {"id": conversation}
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        # A dashboard prompt names its own model when the request names none.
        "model": body.get("model") or (PROMPT_MODEL if body.get("prompt") else None),
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "output": output,
        "previous_response_id": body.get("previous_response_id"),
        "conversation": conversation,
        "store": body.get("store", True),
        "metadata": body.get("metadata") or {},
        "text": body.get("text") or {"format": {"type": "text"}},
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "truncation": body.get("truncation", "disabled"),
        "usage": usage,
    }


def value_from_schema(schema: Json, root: Json | None = None, depth: int = 0) -> Any:
    """A small value that satisfies a typical strict JSON schema (as pydantic emits them)."""
    root = schema if root is None else root
    if depth > 32:  # recursive models: stop somewhere instead of looping forever
        return None
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).lstrip("#/").split("/"):
            target = target.get(part, {}) if part else target
        return value_from_schema(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            branches = [b for b in schema[key] if b.get("type") != "null"] or schema[key]
            return value_from_schema(branches[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties", {})
        return {name: value_from_schema(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        item = value_from_schema(schema.get("items", {}), root, depth + 1)
        return [item] * int(schema.get("minItems", 0))
    if kind == "string":
        return _string_from_schema(schema)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = 0 if low is None else low + (1 if "minimum" not in schema else 0)
        high = schema.get("maximum")
        value = min(value, high) if high is not None else value
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return None


def _string_from_schema(schema: Json) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if fmt == "date":
        return dt.date.today().isoformat()
    if fmt == "email":
        return "sandbox@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/sandbox"
    if fmt == "uuid":
        return str(uuid.uuid4())
    text = "sandbox".ljust(int(schema.get("minLength", 0)), "x")
    max_len = schema.get("maxLength")
    return text[: int(max_len)] if max_len is not None else text


HANDOFF_TOOL = "request_human"
_ASKS_FOR_A_PERSON = ("human", "a person", "real person", "persona", "humano", "agente")


def handoff_call(body: Json, texts: list[str]) -> Json | None:
    """The sandbox model asks for a person the way a real one would: it calls the hand-off
    tool when it is offered and the customer's last words ask for a human."""
    tools = body.get("tools") or []
    offered = any(isinstance(t, dict) and t.get("name") == HANDOFF_TOOL for t in tools)
    last = (texts[-1] if texts else "").lower()
    if not offered or not any(word in last for word in _ASKS_FOR_A_PERSON):
        return None
    return {
        "type": "function_call",
        "id": new_id("fc"),
        "call_id": new_id("call"),
        "name": HANDOFF_TOOL,
        "arguments": json.dumps({"reason": "the customer asked for a person"}),
        "status": "completed",
    }
