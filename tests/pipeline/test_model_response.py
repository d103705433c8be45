"""The Responses API answer read from its JSON: the same text and figures the SDK's model gives."""

from __future__ import annotations

from openai.types.responses import Response

from app.ai.responses import ModelResponse

BODY = {
    "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4.1-mini",
    "status": "completed", "error": None, "incomplete_details": None, "instructions": None,
    "metadata": {}, "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto",
    "tools": [], "top_p": 1.0,
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [
             {"type": "output_text", "text": "Hola. ", "annotations": []},
             {"type": "refusal", "refusal": "no"},
             {"type": "output_text", "text": "Precio: 10.", "annotations": []},
         ]},
        {"type": "message", "id": "msg_2", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": " Gracias", "annotations": []}]},
    ],
    "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19,
              "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
              "output_tokens_details": {"reasoning_tokens": 0}},
}


def test_fields_match_the_sdk_model() -> None:
    ours, sdk = ModelResponse.of(BODY), Response.model_validate(BODY)
    assert ours.output_text == sdk.output_text == "Hola. Precio: 10. Gracias"
    assert (ours.id, ours.model, ours.status, ours.error) == (sdk.id, sdk.model, sdk.status, None)
    assert ours.usage is not None and sdk.usage is not None
    assert (ours.usage.input_tokens, ours.usage.output_tokens) == (12, 7)


def test_a_response_without_output_or_usage() -> None:
    r = ModelResponse.of({"id": "resp_2", "status": "failed", "error": {"code": "server_error"},
                          "output": [], "usage": None})
    assert (r.output_text, r.usage, r.status) == ("", None, "failed")
    assert r.error == {"code": "server_error"}
