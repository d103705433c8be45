"""The arq worker: job functions, the sweeper cron, and the per-process runtime."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import cron
from arq.worker import Worker

from app.config import Settings
from app.runtime import open_runtime, redis_settings
from workers.process import process_conversation
from workers.send import send_message
from workers.sweeper import sweep


def _job_functions() -> list[Any]:
    from workers.extensions import extra_functions

    return [process_conversation, send_message, *extra_functions()]


def _cron_jobs(settings: Settings) -> list[Any]:
    from workers.extensions import extra_cron_jobs

    step = settings.sweeper_interval_s
    return [
        cron(sweep, second=set(range(0, 60, step)), run_at_startup=True, unique=True,
             timeout=60, keep_result=0),
        *extra_cron_jobs(settings),
    ]


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["rt"] = await open_runtime(settings, pool_size=min(settings.db_pool_size, 20))

    async def shutdown(ctx: dict[str, Any]) -> None:
        rt = ctx.get("rt")
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
    }
    options.update(overrides)
    return Worker(**options)


def run_worker(settings: Settings) -> None:
    worker = build_worker(settings)
    asyncio.run(_run(worker))


async def _run(worker: Worker) -> None:
    try:
        await worker.async_run()
    finally:
        await worker.close()
