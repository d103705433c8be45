"""The arq worker: job functions, the sweeper cron, and the per-process runtime."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq.worker import Worker

from app.config import Settings
from app.metrics import start_worker_metrics
from app.redis import redis_settings
from app.runtime import open_runtime
from workers.process import process_conversation
from workers.send import send_message
from workers.sweeper import sweep_forever


def _job_functions() -> list[Any]:
    from workers.extensions import extra_functions

    return [process_conversation, send_message, *extra_functions()]


def _cron_jobs(settings: Settings) -> list[Any]:
    from workers.extensions import extra_cron_jobs

    return list(extra_cron_jobs(settings))


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["rt"] = rt = await open_runtime(settings, pool_size=min(settings.db_pool_size, 20))
        ctx["sweeper"] = asyncio.create_task(sweep_forever(rt))
        if settings.worker_metrics_port is not None:
            # Workers have no HTTP server of their own: the same metrics, on a side port.
            ctx["metrics_server"] = start_worker_metrics(settings.worker_metrics_port)

    async def shutdown(ctx: dict[str, Any]) -> None:
        server = ctx.pop("metrics_server", None)
        if server is not None:
            # shutdown() waits for the serving thread's next poll (up to half a second).
            await asyncio.to_thread(server.shutdown)
            server.server_close()
        # Idempotent: tests call it again when arq's close() stopped before its hook.
        task = ctx.pop("sweeper", None)
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
    return Worker(**options)


def run_worker(settings: Settings) -> None:
    # uvloop (shipped with uvicorn[standard], which the API already runs on) makes every
    # socket round trip of a job cheaper; plain asyncio where it is not installed.
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency of uvicorn[standard]
        asyncio.run(_run(settings))
        return
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
