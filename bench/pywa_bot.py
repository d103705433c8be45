"""The comparison for the cost per answered message: a minimal WhatsApp bot on pywa + openai.

What such a bot does with each webhook, and nothing more: pywa checks the signature over the
raw bytes, answers 200 and parses the update; the handler asks the Responses API through the
openai SDK for a reply (chained per customer with `previous_response_id`, kept in memory)
and sends it with pywa's Graph client. No database, no queue, no ordering, no credits: what
the platform adds on top of this is what `bench.cost` puts a price on. (`GET /bench/answered`,
the count of replies the Graph API accepted, is the harness's, not the bot's.)

Served like the API (`uvicorn --factory bench.pywa_bot:app_factory`, one process, uvloop and
httptools) against the same fakes, configured from the same environment: META_APP_SECRET,
META_VERIFY_TOKEN, OPENAI_API_KEY, OPENAI_BASE_URL, META_GRAPH_API_BASE_URL, and the number it
answers for in BENCH_PHONE_ID (its token in BENCH_GRAPH_TOKEN)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx
from openai import AsyncOpenAI
from pywa_async import WhatsApp, filters, types
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse

MODEL, INSTRUCTIONS = "gpt-4.1-mini", "Be brief."  # the bench agent's (bench/seed.py)


def app_factory(env: Mapping[str, str] = os.environ) -> Starlette:
    app = Starlette()
    wa = WhatsApp(
        phone_id=env["BENCH_PHONE_ID"],
        token=env.get("BENCH_GRAPH_TOKEN", "EAAbenchtoken"),
        # The platform's Graph client settings (its timeout; as many kept-alive connections
        # as a worker has job slots) rather than pywa's default client (5 s, 20 kept alive):
        # on a loaded machine that one lost a third to half of the replies to connect and pool
        # timeouts, and the comparison is of CPU per reply, not of HTTP client defaults.
        session=httpx.AsyncClient(
            timeout=float(env.get("GRAPH_TIMEOUT_S", "10")),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        ),
        server=app,
        webhook_endpoint="/webhooks/meta",
        verify_token=env["META_VERIFY_TOKEN"],
        app_secret=env["META_APP_SECRET"],
    )
    # pywa always talks to graph.facebook.com; the bench points it at the fake Graph server.
    wa.api._session.base_url = env["META_GRAPH_API_BASE_URL"]
    openai = AsyncOpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    last_response: dict[str, str] = {}
    answered = [0]  # replies the Graph API accepted; `bench.cost` waits on this count

    async def count(_: Request) -> PlainTextResponse:
        return PlainTextResponse(str(answered[0]))

    app.add_route("/bench/answered", count, methods=["GET"])

    @wa.on_message(filters.text)
    async def answer(client: WhatsApp, msg: types.Message) -> None:
        customer = msg.from_user.wa_id
        response = await openai.responses.create(
            model=MODEL, instructions=INSTRUCTIONS, input=msg.text or "",
            previous_response_id=last_response.get(customer),
        )
        last_response[customer] = response.id
        await client.send_message(to=customer, text=response.output_text)
        answered[0] += 1

    return app
