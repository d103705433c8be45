"""Wake-ups: one job per burst, the sweeper never doubles a waiting job, first messages race."""

from __future__ import annotations

import asyncio
import dataclasses

from app.effects import enqueue_wakeups, wake_flag_key
from tests.factories import make_world
from tests.helpers import db_rows, running_worker, wait_for
from tests.meta import post_text


async def test_messages_arriving_while_a_job_runs_add_no_jobs(
    client, runtime, graph, model, test_env
):
    world = await make_world(runtime, credits=10)
    # Only wake-ups are under test: a sweep reads the pending rows, then the leases, so one
    # that straddles the job's settle commit and lease release wakes the conversation again
    # (harmless, and more likely the slower the machine). This worker's sweeper looks only at
    # rows a minute old.
    settings = runtime.settings.model_copy(update={"sweeper_min_age_s": 60})
    async with running_worker(settings) as worker:
        runs = _count_runs(worker)
        await _burst_while_a_job_runs(client, world, runs, graph, model, test_env)
    (cid,) = await db_rows(test_env["DATABASE_URL"], "SELECT id FROM conversations")
    # No job waits for this conversation. (The queue itself may hold a cron job, e.g. the
    # snooze check every 15 s, that the worker enqueued as it was stopping.)
    queued = [(j.function, j.args) for j in await runtime.redis.queued_jobs()]
    assert ("process_conversation", (str(cid["id"]),)) not in queued, queued
    assert not await runtime.redis.exists(wake_flag_key(str(cid["id"])))


async def _burst_while_a_job_runs(client, world, runs, graph, model, test_env) -> None:
    # Long enough for the burst below to land while the first batch is with the model, on
    # however busy a machine.
    await model.config(latency_ms=2000)
    await post_text(client, world.account_id, "m1")
    # The first batch is with the model: the burst lands while its job holds the flag.
    await wait_for(lambda: db_rows(test_env["DATABASE_URL"],
                                 "SELECT 1 FROM messages WHERE status = 'processing'"))
    for text in ("m2", "m3", "m4", "m5"):
        await post_text(client, world.account_id, text)
    sends = await wait_for(lambda: _sends(graph, world.account_id, 2), timeout=20)
    assert [s["json"]["text"]["body"] for s in sends] == ["[sandbox] m1",
                                                          "[sandbox] m2 | m3 | m4 | m5"]
    await wait_for(lambda: db_rows(test_env["DATABASE_URL"],
                                 "SELECT 1 FROM messages WHERE text = 'm5' AND status = 'answered'"))
    # The running job answered the burst itself; nothing else was enqueued for it. The job
    # returns after its last look for work (after the settle commit), so wait for its outcome.
    # (Only this conversation's jobs count: a job some earlier test left behind is not ours.)
    (conv,) = await db_rows(test_env["DATABASE_URL"], "SELECT id FROM conversations")
    ours = await wait_for(lambda: [o for c, o in runs if c == str(conv["id"])])
    assert ours == ["done"]


def _count_runs(worker) -> list[tuple[str, str]]:
    """(conversation id, outcome) of every process_conversation job the worker runs from now
    on."""
    runs: list[tuple[str, str]] = []
    fn = worker.functions["process_conversation"]
    inner = fn.coroutine

    async def counted(ctx, *args):
        outcome = await inner(ctx, *args)
        runs.append((str(args[0]), outcome))
        return outcome

    worker.functions["process_conversation"] = dataclasses.replace(fn, coroutine=counted)
    return runs


async def _sends(graph, account: str, n: int) -> list | None:
    sends = await graph.requests(account_id=account)
    return sends if len(sends) >= n else None


async def test_sweeper_leaves_a_waiting_job_alone_and_replaces_a_dead_workers(
    client, runtime, test_env
):
    world = await make_world(runtime, credits=10)
    await post_text(client, world.account_id, "hola")
    await post_text(client, world.account_id, "sigues?")
    redis = runtime.redis
    # No worker runs: two messages, one job waiting, named by the conversation's flag.
    assert await redis.zcard("arq:queue") == 1
    (cid,) = [str(r["id"]) for r in await db_rows(test_env["DATABASE_URL"],
                                                "SELECT id FROM conversations")]
    job_id = (await redis.get(wake_flag_key(cid))).decode()
    assert await redis.zscore("arq:queue", job_id) is not None

    assert await enqueue_wakeups(redis, [cid], force=True) == 0
    assert await redis.zcard("arq:queue") == 1

    # A worker took the job and died with it: arq would leave it alone for ten minutes.
    await redis.set(f"arq:in-progress:{job_id}", b"1", px=600_000)
    assert await enqueue_wakeups(redis, [cid], force=True) == 1
    assert await redis.zcard("arq:queue") == 2
    replacement = (await redis.get(wake_flag_key(cid))).decode()
    assert replacement != job_id and await redis.zscore("arq:queue", replacement) is not None


async def test_a_new_customers_first_messages_at_once_share_one_conversation(
    client, runtime, test_env
):
    world = await make_world(runtime, credits=10)
    texts = [f"part {i}" for i in range(8)]
    posted = await asyncio.gather(*(post_text(client, world.account_id, t, sender="5215599990000")
                                    for t in texts))
    assert [r.json()["stored"] for r in posted] == [1] * len(texts)
    db = test_env["DATABASE_URL"]
    convs = await db_rows(db, "SELECT id, last_seq FROM conversations")
    assert len(convs) == 1
    msgs = await db_rows(db, "SELECT text, seq FROM messages ORDER BY seq")
    assert sorted(m["text"] for m in msgs) == sorted(texts)
    seqs = [m["seq"] for m in msgs]
    assert len(set(seqs)) == len(texts) and max(seqs) <= convs[0]["last_seq"]
    contacts = await db_rows(db, "SELECT count(*) AS n FROM contacts")
    assert contacts[0]["n"] == 1
    # One job for the conversation, however many messages opened it.
    assert await runtime.redis.zcard("arq:queue") == 1
