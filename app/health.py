"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import orjson
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.http import error_response
from app.outages import DEPENDENCIES
from app.runtime import Runtime


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_db(rt: Runtime) -> None:
    async with rt.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def readyz(request: Request) -> JSONResponse:
    """200 `ready`, or 503 `degraded` naming what this process cannot reach right now. The
    process stays up and keeps retrying either way (liveness is /healthz): a load balancer may
    take it out of rotation, nothing should restart it."""
    rt: Runtime = request.app.state.runtime
    checks = {"postgres": _check_db(rt), "redis": rt.redis.ping()}
    failing = []
    for name, coro in checks.items():
        try:
            await asyncio.wait_for(coro, timeout=2.0)
        except Exception as exc:
            failing.append(name)
            DEPENDENCIES.down(name, exc)
        else:
            DEPENDENCIES.up(name)
    if failing:
        # The shared error shape (correlation id, timestamp) plus which dependency is down.
        error = error_response(503, "not reachable: " + ", ".join(failing), "UNAVAILABLE")
        return JSONResponse({**orjson.loads(error.body), "status": "degraded", "failing": failing},
                            status_code=503)
    return JSONResponse({"status": "ready"})
