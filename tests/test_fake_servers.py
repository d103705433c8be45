"""The fake Graph and OpenAI servers, driven over real HTTP by real clients.

The OpenAI side uses the real `openai` SDK, so a fake that drifts from what the SDK expects
fails here rather than in a slow end-to-end test. Self-contained: no shared conftest.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import openai
import pydantic
import pytest
from openai import AsyncOpenAI

from app.sandbox import RunningServer, fake_graph, fake_openai, run_in_thread

TOKEN = "Bearer test-token"


@pytest.fixture(scope="module")
def openai_server() -> Iterator[RunningServer]:
    with run_in_thread(fake_openai.create_app()) as server:
        yield server


@pytest.fixture(scope="module")
def graph_server() -> Iterator[RunningServer]:
    with run_in_thread(fake_graph.create_app()) as server:
        yield server


@pytest.fixture
def oai(openai_server: RunningServer) -> str:
    httpx.post(f"{openai_server.url}/_fake/reset").raise_for_status()
    return openai_server.url


@pytest.fixture
def graph(graph_server: RunningServer) -> str:
    httpx.post(f"{graph_server.url}/_fake/reset").raise_for_status()
    return graph_server.url


def client(url: str, max_retries: int = 2) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=url + "/v1", api_key="test", max_retries=max_retries)


async def admin(method: str, url: str, json: Any = None) -> Any:
    """Drive a fake's admin endpoints the way another process would: over HTTP."""
    async with httpx.AsyncClient() as http:
        response = await http.request(method, url, json=json)
    response.raise_for_status()
    return response.json()


async def configure(url: str, **config: Any) -> None:
    await admin("POST", f"{url}/_fake/config", config)


async def recorded(url: str, query: str = "") -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = (await admin("GET", f"{url}/_fake/requests{query}"))[
        "requests"
    ]
    return requests


# --- OpenAI Responses fake -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reply_echoes_only_user_texts_of_this_turn(oai: str) -> None:
    async with client(oai) as ai:
        r = await ai.responses.create(
            model="gpt-4.1",
            instructions="be brief",
            input=[
                {"role": "user", "content": "hola"},
                {"role": "assistant", "content": "ignored"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "uno"},
                        {"type": "input_text", "text": "dos"},
                    ],
                },
            ],
            metadata={"chat_id": "42"},
        )
        plain = await ai.responses.create(model="gpt-4.1", input="solo")
    # Items before the last assistant turn are history the client rebuilt, not this turn.
    assert r.output_text == "[sandbox] uno | dos"
    assert plain.output_text == "[sandbox] solo"
    assert r.id.startswith("resp_") and r.id != plain.id
    assert r.status == "completed" and r.model == "gpt-4.1"
    assert r.metadata == {"chat_id": "42"}
    assert r.usage is not None and r.usage.total_tokens > r.usage.output_tokens > 0
    assert r._request_id is not None
    first = (await recorded(oai))[0]
    assert first["body"]["instructions"] == "be brief"
    assert first["retry_count"] == "0"
    assert first["history_length"] == 3
    assert first["user_texts"] == ["hola", "uno", "dos"]


@pytest.mark.asyncio
async def test_previous_response_id_chains_and_forget_breaks_the_chain(oai: str) -> None:
    async with client(oai) as ai:
        first = await ai.responses.create(model="m", input="uno")
        second = await ai.responses.create(model="m", input="dos", previous_response_id=first.id)
        assert second.output_text == "[sandbox] dos"  # history is not echoed
        assert second.previous_response_id == first.id
        fetched = await ai.responses.retrieve(second.id)
        assert fetched.output_text == "[sandbox] dos"
        # uno + assistant reply + dos: the server rebuilt the chain.
        assert [r["history_length"] for r in await recorded(oai)] == [1, 3]

        await admin("POST", f"{oai}/_fake/forget")
        with pytest.raises(openai.BadRequestError) as excinfo:
            await ai.responses.create(model="m", input="tres", previous_response_id=second.id)
    assert excinfo.value.code == "previous_response_not_found"


@pytest.mark.asyncio
async def test_unknown_previous_id_is_a_400_in_openai_format(oai: str) -> None:
    async with client(oai) as ai:
        with pytest.raises(openai.BadRequestError) as excinfo:
            await ai.responses.create(model="m", input="x", previous_response_id="resp_nope")
    err = excinfo.value
    assert err.status_code == 400
    assert err.body == {
        "message": "Previous response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }
    assert len(await recorded(oai)) == 1  # 400 is not retried


@pytest.mark.asyncio
async def test_scripted_429s_are_retried_then_raise(oai: str) -> None:
    await configure(oai, fail=[{"status": 429, "code": "rate_limit_exceeded"}] * 3)
    async with client(oai) as ai:
        with pytest.raises(openai.RateLimitError) as excinfo:
            await ai.responses.create(model="m", input="x")
        assert excinfo.value.code == "rate_limit_exceeded"
        # The queue is used up, so the next call succeeds.
        ok = await ai.responses.create(model="m", input="y")
    assert ok.output_text == "[sandbox] y"
    retries = [r["retry_count"] for r in await recorded(oai)]
    assert retries == ["0", "1", "2", "0"]
    assert [r["status"] for r in await recorded(oai)] == [429, 429, 429, 200]


@pytest.mark.asyncio
async def test_one_500_then_success(oai: str) -> None:
    await configure(oai, fail=[{"status": 500}])
    async with client(oai) as ai:
        r = await ai.responses.create(model="m", input="hola")
    assert r.output_text == "[sandbox] hola"
    assert [x["status"] for x in await recorded(oai)] == [500, 200]


@pytest.mark.asyncio
async def test_fail_all_until_cleared_and_no_retry_flag(oai: str) -> None:
    await configure(oai, fail_all={"status": 503})
    async with client(oai, max_retries=1) as ai:
        with pytest.raises(openai.InternalServerError):
            await ai.responses.create(model="m", input="x")
        assert len(await recorded(oai)) == 2
        await configure(oai, fail_all=None, fail=[{"status": 500, "retry": False}])
        with pytest.raises(openai.InternalServerError):
            await ai.responses.create(model="m", input="x")
        assert len(await recorded(oai)) == 3  # x-should-retry: false was honoured
        assert (await ai.responses.create(model="m", input="ok")).output_text == "[sandbox] ok"


@pytest.mark.asyncio
async def test_failed_and_incomplete_at_http_200(oai: str) -> None:
    await configure(oai, fail=[{"status": 200, "failed": True}, {"status": 200, "incomplete": "x"}])
    async with client(oai) as ai:
        failed = await ai.responses.create(model="m", input="x")
        incomplete = await ai.responses.create(model="m", input="abcdefgh")
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "server_error"
    assert failed.output_text == ""
    assert incomplete.status == "incomplete"
    assert incomplete.incomplete_details is not None
    assert "[sandbox] abcdefgh".startswith(incomplete.output_text)


class Address(pydantic.BaseModel):
    city: str


class Reply(pydantic.BaseModel):
    reply: str
    intent: Literal["greeting", "question"]
    rating: int = pydantic.Field(ge=3, le=5)
    score: float
    urgent: bool
    when: dt.datetime
    note: str | None
    tags: list[str]
    address: Address


@pytest.mark.asyncio
async def test_parse_generates_valid_structured_output(oai: str) -> None:
    async with client(oai) as ai:
        parsed = await ai.responses.parse(model="m", input="hola", text_format=Reply)
    reply = parsed.output_parsed
    assert reply is not None
    assert reply.reply == "sandbox" and reply.intent == "greeting" and reply.rating == 3
    assert reply.score == 0 and reply.urgent is False and reply.tags == []
    assert reply.note == "sandbox" and reply.address.city == "sandbox"
    assert reply.when.tzinfo is not None
    assert (await recorded(oai))[0]["body"]["text"]["format"]["type"] == "json_schema"


@pytest.mark.asyncio
async def test_parse_with_configured_output(oai: str) -> None:
    async with client(oai) as ai:
        await configure(oai, structured_output={"city": "Lima"})
        good = await ai.responses.parse(model="m", input="x", text_format=Address)
        assert good.output_parsed == Address(city="Lima")
        await configure(oai, structured_output={"town": "Lima"})  # valid JSON, wrong shape
        with pytest.raises(pydantic.ValidationError):
            await ai.responses.parse(model="m", input="x", text_format=Address)
        await configure(oai, structured_output=None, raw_output_text='{"city": ')  # not even JSON
        with pytest.raises(pydantic.ValidationError):
            await ai.responses.parse(model="m", input="x", text_format=Address)


@pytest.mark.asyncio
async def test_latency_is_configurable_at_runtime(oai: str) -> None:
    await configure(oai, latency_ms=200, latency_jitter_ms=0)
    async with client(oai) as ai:
        start = time.monotonic()
        await ai.responses.create(model="m", input="x")
        assert time.monotonic() - start >= 0.2
    await admin("POST", f"{oai}/_fake/reset")
    assert (await admin("GET", f"{oai}/_fake/config"))["latency_ms"] == 0


@pytest.mark.asyncio
async def test_conversations(oai: str) -> None:
    async with client(oai) as ai:
        conv = await ai.conversations.create(metadata={"wa_id": "521"})
        assert conv.id.startswith("conv_") and conv.metadata == {"wa_id": "521"}
        await ai.responses.create(model="m", input="uno", conversation=conv.id)
        r = await ai.responses.create(model="m", input="dos", conversation=conv.id)
        assert r.output_text == "[sandbox] dos"
        assert (await recorded(oai))[-1]["history_length"] == 3
        deleted = await ai.conversations.delete(conv.id)
        assert deleted.deleted is True


# --- Graph API fake --------------------------------------------------------------------------


def wa_text(to: str = "+5215512345678", body: str = "hola") -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


@pytest.mark.asyncio
async def test_whatsapp_send_and_read_are_recorded(graph: str) -> None:
    async with httpx.AsyncClient(base_url=graph, headers={"Authorization": TOKEN}) as http:
        sent = await http.post("/v25.0/111/messages", json=wa_text())
        read = await http.post(
            "/v25.0/111/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"},
        )
    assert sent.status_code == 200
    body = sent.json()
    assert body["contacts"] == [{"input": "+5215512345678", "wa_id": "5215512345678"}]
    assert body["messages"][0]["id"].startswith("wamid.FAKE")
    assert read.json() == {"success": True}
    requests = await recorded(graph, "?account_id=111")
    assert [r["kind"] for r in requests] == ["send", "action"]
    assert requests[0]["authorization"] == TOKEN
    assert requests[0]["json"] == wa_text()
    assert requests[0]["path"] == "/v25.0/111/messages"
    assert await recorded(graph, "?account_id=other") == []


@pytest.mark.asyncio
async def test_scripted_131047_has_meta_error_shape(graph: str) -> None:
    entry = {"status": 400, "code": 131047, "title": "Re-engagement message"}
    script = {"responses": [{**entry, "details": "24h passed", "error_subcode": 2494055}]}
    await admin("POST", f"{graph}/_fake/script", script)
    async with httpx.AsyncClient(base_url=graph, headers={"Authorization": TOKEN}) as http:
        # Read receipts do not consume send-scripted outcomes.
        read = await http.post(
            "/v25.0/111/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"},
        )
        failed = await http.post("/v25.0/111/messages", json=wa_text())
        after = await http.post("/v25.0/111/messages", json=wa_text())
    assert read.status_code == 200
    assert failed.status_code == 400
    error = failed.json()["error"]
    assert error.pop("fbtrace_id")
    assert error == {
        "message": "(#131047) Re-engagement message",
        "type": "OAuthException",
        "code": 131047,
        "error_data": {"messaging_product": "whatsapp", "details": "24h passed"},
        "error_subcode": 2494055,
    }
    assert after.status_code == 200


@pytest.mark.asyncio
async def test_500_then_success_and_match_account(graph: str) -> None:
    script = {"responses": [{"status": 500, "match_account": "222"}, {"status": 500}]}
    await admin("POST", f"{graph}/_fake/script", script)
    async with httpx.AsyncClient(base_url=graph, headers={"Authorization": TOKEN}) as http:
        first = await http.post("/v25.0/111/messages", json=wa_text())
        second = await http.post("/v25.0/111/messages", json=wa_text())
        ig = await http.post(
            "/v25.0/222/messages", json={"recipient": {"id": "IGSID1"}, "message": {"text": "x"}}
        )
        ig_ok = await http.post(
            "/v25.0/me/messages", json={"recipient": {"id": "IGSID1"}, "message": {"text": "x"}}
        )
    assert first.status_code == 500
    assert first.json()["error"]["code"] == 2
    assert first.json()["error"]["message"] == "(#2) Service temporarily unavailable"
    assert second.status_code == 200
    assert ig.status_code == 500 and "error_data" not in ig.json()["error"]
    assert ig_ok.json()["recipient_id"] == "IGSID1"
    assert ig_ok.json()["message_id"].startswith("mid.FAKE")
    assert (await admin("GET", f"{graph}/_fake/script"))["responses"] == []


@pytest.mark.asyncio
async def test_delay_and_drop(graph: str) -> None:
    script = {"responses": [{"delay_ms": 300}, {"drop": True, "delay_ms": 1500}]}
    await admin("POST", f"{graph}/_fake/script", script)
    async with httpx.AsyncClient(base_url=graph, headers={"Authorization": TOKEN}) as http:
        start = time.monotonic()
        delayed = await http.post("/v25.0/111/messages", json=wa_text())
        assert delayed.status_code == 200
        assert time.monotonic() - start >= 0.3
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v25.0/111/messages", json=wa_text(), timeout=0.3)
    assert (await recorded(graph))[-1]["dropped"] is True


@pytest.mark.asyncio
async def test_rejects_missing_token_and_overlong_text(graph: str) -> None:
    async with httpx.AsyncClient(base_url=graph) as http:
        no_auth = await http.post("/v25.0/111/messages", json=wa_text())
        too_long = await http.post(
            "/v25.0/111/messages", json=wa_text(body="x" * 4097), headers={"Authorization": TOKEN}
        )
    assert no_auth.status_code == 401 and no_auth.json()["error"]["code"] == 190
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == 100


# --- Running the fakes -------------------------------------------------------------------------


def test_stop_frees_the_port_and_cli_prints_url() -> None:
    server = run_in_thread(fake_graph.create_app())
    assert httpx.get(f"{server.url}/_fake/health").json()["ok"] is True
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/_fake/health")

    with subprocess.Popen(
        [sys.executable, "-m", "app.sandbox", "openai", "--port", "0", "--latency-ms", "5"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            assert httpx.get(f"{url}/_fake/config", timeout=10).json()["latency_ms"] == 5
        finally:
            proc.terminate()
            proc.wait(timeout=10)
