"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.runtime import Runtime


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_db(rt: Runtime) -> None:
    async with rt.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    checks = {"postgres": _check_db(rt), "redis": rt.redis.ping()}
    failing = []
    for name, coro in checks.items():
        try:
            await asyncio.wait_for(coro, timeout=2.0)
        except Exception:
            failing.append(name)
    if failing:
        return JSONResponse(
            {"status": "unavailable", "failing": failing,
             "error": "not reachable: " + ", ".join(failing), "code": "UNAVAILABLE"},
            status_code=503,
        )
    return JSONResponse({"status": "ready"})
