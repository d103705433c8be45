"""The arq worker: job functions, the sweeper cron, and the per-process runtime."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import uvloop
from arq import cron
from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

from app.config import Settings
from app.integrations.delivery import deliver_forever
from app.metrics import start_worker_metrics
from app.outages import DEPENDENCIES, backoff_s, is_outage, which
from app.pipeline.batch import process_conversation
from app.pipeline.send import send_message
from app.pipeline.sweeper import sweep_forever
from app.redis import harden, redis_settings
from app.runtime import open_runtime, tune_gc
from app.templates.refresh import learn_business_account, refresh_templates
from workers.inbox import wake_snoozed
from workers.leads import extract_lead, scan_lead_extraction
from workers.lifecycle import expire_contexts

# Claim up to ARGV[3] of the listed jobs in one round trip, with arq's own rule: a job is
# startable when no in-progress key exists for it and its queue score is due; claiming sets
# that key. KEYS: the queue, then each job's in-progress key; ARGV: now, key TTL, how many,
# then the job ids.
_CLAIM = """
local now, want, claimed = tonumber(ARGV[1]), tonumber(ARGV[3]), {}
for i = 2, #KEYS do
    if #claimed >= want * 2 then break end
    local id = ARGV[i + 2]
    if redis.call('EXISTS', KEYS[i]) == 0 then
        local score = redis.call('ZSCORE', KEYS[1], id)
        if score and tonumber(score) <= now then
            redis.call('PSETEX', KEYS[i], ARGV[2], '1')
            table.insert(claimed, id)
            table.insert(claimed, score)
        end
    end
end
return claimed
"""


# How long a job waits for a pooled Postgres connection before it fails.
WORKER_POOL_TIMEOUT_S = 30.0


class BatchClaimWorker(Worker):
    """arq's worker, with two changes.

    It starts jobs with one Redis round trip per poll instead of three per queued job. arq
    keeps running jobs in the queue until they finish and checks each listed id in turn, one
    round trip after another; with hundreds of conversations in flight that sequential scan,
    not CPU, capped how fast jobs started.

    And it outlives Redis outages. arq's poll loop ends the worker on the first connection
    error (its own calls, or a job's start or finish that failed to reach Redis); here a poll
    that cannot reach Redis waits (backoff with jitter) and polls again, and running jobs carry
    on. A job whose start or end was lost is recovered by the sweeper from Postgres."""

    _outage_polls = 0

    async def main(self) -> None:
        # Start-up, too, waits for Redis instead of giving up after arq's few attempts.
        attempt = 0
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    self.redis_settings, job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer, default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except Exception as exc:
                if not is_outage(exc):
                    raise
                DEPENDENCIES.down("redis", exc)
                await asyncio.sleep(backoff_s(attempt, base=0.5, cap=5.0))
                attempt += 1
        DEPENDENCIES.up("redis")
        harden(self._pool)
        await super().main()

    async def _poll_iteration(self) -> None:
        try:
            if self._outage_polls:
                # Back? (An iteration may not touch Redis at all: say so only once it answers.)
                await self.pool.ping()
            await super()._poll_iteration()
        except Exception as exc:
            if not is_outage(exc):
                raise
            DEPENDENCIES.down(which(exc), exc)
            self._outage_polls += 1
            await asyncio.sleep(backoff_s(self._outage_polls, base=0.05, cap=2.0))
            return
        if self._outage_polls:
            self._outage_polls = 0
            DEPENDENCIES.up("redis")

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        ids = [j for j in (b.decode() for b in job_ids) if j not in self.tasks]
        free = self.max_jobs - self.job_counter
        if not ids or free <= 0:
            return
        keys = [self.queue_name, *(in_progress_key_prefix + j for j in ids)]
        ttl_ms = int(self.in_progress_timeout_s * 1000)
        claimed = await self.pool.eval(  # type: ignore[misc]
            _CLAIM, len(keys), *keys, str(timestamp_ms()), str(ttl_ms), str(free), *ids
        )
        for raw_id, score in zip(claimed[::2], claimed[1::2], strict=True):
            await self.sem.acquire()
            self.job_counter += 1
            job_id = raw_id.decode()
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task


def _job_functions() -> list[Any]:
    return [process_conversation, send_message, extract_lead, refresh_templates,
            learn_business_account]


def _cron_jobs(settings: Settings) -> list[Any]:
    return [
        # Every minute: the idle rule is in minutes, so a lead is at most a minute late.
        cron(scan_lead_extraction, second=30, unique=True, timeout=120, keep_result=0),
        # Hourly: the rule is in days. unique: one run per hour across all workers.
        cron(expire_contexts, minute=17, second=0, unique=True, timeout=1800, keep_result=0),
        # Every 15 s: a snooze ends at most that late.
        cron(wake_snoozed, second={0, 15, 30, 45}, unique=True, timeout=60, keep_result=0),
    ]


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        # A fixed-size pool (no overflow): jobs hold a connection only for their statements,
        # never through a model call or a send, so a few connections serve every job slot.
        # A job waits for one rather than fail: a failed job is retried, more work for the
        # same connections (the job slots already bound how many wait).
        ctx["rt"] = rt = await open_runtime(settings, pool_size=settings.worker_db_pool_size,
                                            pool_timeout=WORKER_POOL_TIMEOUT_S)
        ctx["sweeper"] = asyncio.create_task(sweep_forever(rt))
        ctx["event_delivery"] = asyncio.create_task(deliver_forever(rt))
        if settings.worker_metrics_port is not None:
            # Workers have no HTTP server of their own: the same metrics, on a side port.
            ctx["metrics_server"] = start_worker_metrics(settings.worker_metrics_port)
        tune_gc()

    async def shutdown(ctx: dict[str, Any]) -> None:
        server = ctx.pop("metrics_server", None)
        if server is not None:
            # shutdown() waits for the serving thread's next poll (up to half a second).
            await asyncio.to_thread(server.shutdown)
            server.server_close()
        # Idempotent: tests call it again when arq's close() stopped before its hook.
        for name in ("sweeper", "event_delivery"):
            task = ctx.pop(name, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        rt = ctx.pop("rt", None)
        if rt is not None:
            await rt.close()

    options: dict[str, Any] = {
        "functions": _job_functions(),
        "cron_jobs": _cron_jobs(settings),
        "redis_settings": redis_settings(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": settings.worker_concurrency,
        "job_timeout": 600,
        "keep_result": 0,
        "max_tries": 3,
        "poll_delay": 0.05,
        "handle_signals": True,
        # SIGTERM (a deploy) lets running batches finish their send and settle, instead of
        # leaving replies `unknown`; compose gives workers a longer grace period than this.
        "job_completion_wait": 20,
    }
    options.update(overrides)
    return BatchClaimWorker(**options)


def run_worker(settings: Settings) -> None:
    # uvloop, as in the API: every socket round trip of a job costs less CPU.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_run(settings))


async def _run(settings: Settings) -> None:
    # arq binds the worker to the loop that is current when it is built: build it inside.
    worker = build_worker(settings)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass  # SIGTERM / SIGINT: arq cancels its main task to stop
    finally:
        await worker.close()
