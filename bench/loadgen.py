"""The load generator, run as its own process: `python -m bench.loadgen CONFIG.json OUT.json`.

Modes (CONFIG["mode"]):

- `webhooks`: signed WhatsApp webhooks, open loop, at each step's rate. Requests are
  scheduled at fixed instants and latency is measured from the *scheduled* instant, so a slow
  server is charged for the queueing it causes (no coordinated omission). Messages of one
  conversation are posted one after another (the next waits for the previous answer), which is
  what a real customer's phone does and what makes the order check meaningful.
- `graphql`: closed loop, `concurrency` requests in flight for `duration` seconds.
- `websockets`: open `subscribers` graphql-transport-ws subscriptions, print READY, then record
  the delivery latency of every event (the publish time travels in the message text).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.httpclient import Connection


def wa_body(account: str, sender: str, text: str, wamid: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": account},
        # With the business-scoped user id Meta sends beside the wa_id (pywa requires it).
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": sender, "user_id": f"US.{sender}"}],
        "messages": [
            {
                "from": sender,
                "id": wamid,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    return orjson.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
        }
    )


async def run_webhooks(cfg: dict[str, Any]) -> dict[str, Any]:
    targets = [(h, int(p)) for h, p in cfg["targets"]]
    secret = cfg["secret"].encode()
    account = cfg["account_id"]
    n_conv = int(cfg["conversations"])
    prefix = cfg.get("prefix", "b")
    queue: asyncio.Queue[tuple[int, float, int, int] | None] = asyncio.Queue()
    busy = [asyncio.Lock() for _ in range(n_conv)]
    counters = [0] * n_conv
    # per request: step, scheduled (monotonic offset), latency s, status
    steps_out: list[list[float]] = []
    sent: list[tuple[str, float, int]] = []  # text, wall time when posted, status
    unsent: dict[str, int] = {}
    t0_wall, t0 = time.time(), time.monotonic()

    async def worker(conn: Connection) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            step, sched, conv, idx = item
            async with busy[conv]:
                sender = f"{cfg.get('sender_base', 5215500000000) + conv}"
                text = f"{prefix}{conv}-{idx}"
                raw = wa_body(account, sender, text, f"wamid.{prefix}.{conv}.{idx}")
                sig = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
                posted = time.time()
                try:
                    status, _ = await conn.request(
                        "POST",
                        "/webhooks/meta",
                        raw,
                        {"Content-Type": "application/json", "X-Hub-Signature-256": sig},
                    )
                except (OSError, asyncio.IncompleteReadError):
                    status = 599
                    conn.close()
                done = time.monotonic()
                steps_out.append([step, sched - t0, done - sched, status])
                sent.append((text, posted, status))

    conns = [Connection(*targets[i % len(targets)]) for i in range(int(cfg["connections"]))]
    tasks = [asyncio.create_task(worker(c)) for c in conns]
    conv_cycle = itertools.cycle(range(n_conv))
    step_starts: list[float] = []
    for step, spec in enumerate(cfg["steps"]):
        rate, duration = float(spec["rate"]), float(spec["duration"])
        start = time.monotonic()
        step_starts.append(time.time())
        for i in itertools.count():
            sched = start + i / rate
            if sched - start >= duration:
                break
            delay = sched - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            conv = next(conv_cycle)
            queue.put_nowait((step, sched, conv, counters[conv]))
            counters[conv] += 1
        # Let this step's backlog drain before the next one, so each step is measured alone;
        # but not for ever: what is still queued after a grace period is never sent (and
        # reported as `unsent`). A saturated server has shown its limit by then.
        grace_until = time.monotonic() + float(cfg.get("grace_s", 10))
        while not queue.empty() and time.monotonic() < grace_until:
            await asyncio.sleep(0.01)
        while not queue.empty():
            queue.get_nowait()
            unsent[str(step)] = unsent.get(str(step), 0) + 1
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    for c in conns:
        c.close()
    return {
        "t0_wall": t0_wall,
        "requests": steps_out,
        "sent": sent,
        "unsent": unsent,
        "step_starts": step_starts,
    }


async def run_graphql(cfg: dict[str, Any]) -> dict[str, Any]:
    host, port = cfg["target"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {cfg['api_key']}"}
    bodies = [orjson.dumps(b) for b in cfg["bodies"]]
    out: list[list[float]] = []
    errors: list[str] = []
    deadline = time.monotonic() + float(cfg["duration"])

    async def loop(n: int) -> None:
        conn = Connection(host, int(port))
        for i in itertools.count(n):
            if time.monotonic() > deadline:
                break
            started = time.monotonic()
            status, payload = await conn.request("POST", "/graphql", bodies[i % len(bodies)], headers)
            out.append([started, time.monotonic() - started, status])
            if (status != 200 or b'"errors"' in payload) and len(errors) < 5:
                errors.append(payload[:300].decode(errors="replace"))
        conn.close()

    await asyncio.gather(*(loop(n) for n in range(int(cfg["concurrency"]))))
    return {"requests": out, "errors": errors}


SUBSCRIBE = (
    "subscription($c: ID) { conversationEvents(conversationId: $c) { __typename "
    "... on MessageCreated { message { text } } } }"
)


async def run_websockets(cfg: dict[str, Any]) -> dict[str, Any]:
    import websockets

    url = cfg["url"]
    latencies: list[float] = []
    received_at: list[float] = []
    failures: list[str] = []
    ready = 0
    gate = asyncio.Semaphore(50)  # connect in waves: a burst of 5,000 handshakes is not the test

    async def subscriber(key: str, conversation: str) -> None:
        nonlocal ready
        try:
            async with gate:
                ws = await websockets.connect(
                    url,
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    max_size=None,
                    ping_interval=None,
                    open_timeout=60,
                )
                await ws.send(
                    orjson.dumps(
                        {"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}
                    ).decode()
                )
                ack = orjson.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no ack: {ack}")
                await ws.send(
                    orjson.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIBE, "variables": {"c": conversation}},
                        }
                    ).decode()
                )
            ready += 1
            async with ws:
                # Cancelled at the end; no receive timeout: 5,000 timers firing every second
                # would be the load generator's own stall, charged to the server.
                while True:
                    raw = await ws.recv()
                    now = time.time()
                    msg = orjson.loads(raw)
                    if msg.get("type") != "next":
                        continue
                    data = (msg["payload"].get("data") or {}).get("conversationEvents") or {}
                    text = (data.get("message") or {}).get("text") or ""
                    if text.startswith("t="):
                        latencies.append(now - float(text[2:]))
                        received_at.append(now)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # every failure is reported, none aborts the others
            if len(failures) < 10:
                failures.append(repr(exc)[:200])

    subs = cfg["subscriptions"]  # [[api_key, conversation_id], ...]
    tasks = [asyncio.create_task(subscriber(k, c)) for k, c in subs]
    deadline = time.monotonic() + float(cfg.get("connect_timeout", 240))
    while ready + len(failures) < len(subs) and time.monotonic() < deadline:
        if len(failures) >= 10:
            break
        await asyncio.sleep(0.2)
    # Subscriptions are live once the server has run the resolver; give it a moment.
    await asyncio.sleep(1.0)
    print(f"READY {ready}", flush=True)
    await asyncio.sleep(float(cfg["hold"]))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"connected": ready, "latencies": latencies, "received_at": received_at, "failures": failures}


MODES = {"webhooks": run_webhooks, "graphql": run_graphql, "websockets": run_websockets}


def main() -> None:
    cfg = orjson.loads(Path(sys.argv[1]).read_bytes())
    # The measuring process gets the same collector settings as the servers it measures:
    # thousands of open sockets make default-paced full collections its own stalls.
    from app.runtime import tune_gc

    tune_gc()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass
    result = asyncio.run(MODES[cfg["mode"]](cfg))
    Path(sys.argv[2]).write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
