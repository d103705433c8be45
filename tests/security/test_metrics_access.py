"""`/metrics` on the public API port: with METRICS_TOKEN only a scraper holding it reads the
numbers; production without one does not serve them at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

TOKEN = "scrape-" + "t" * 32


@asynccontextmanager
async def _client(settings: Any, **update: Any) -> AsyncIterator[httpx.AsyncClient]:
    from app.main import create_app

    app = create_app(settings.model_copy(update=update))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_production_without_a_token_does_not_serve_metrics(settings, clean):
    async with _client(settings, app_env="production", metrics_token=None) as client:
        r = await client.get("/metrics")
        assert r.status_code == 404
        assert "mca_" not in r.text
        # The same answer as any path that does not exist: nothing says metrics live here.
        unknown = await client.get("/no-such-path")
        assert (r.status_code, r.json()["code"]) == (unknown.status_code, unknown.json()["code"])


@pytest.mark.parametrize("app_env", ["production", "development"])
async def test_with_a_token_only_the_scraper_holding_it_reads_metrics(settings, clean, app_env):
    async with _client(settings, app_env=app_env, metrics_token=TOKEN) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer é".encode()},
                        {"Authorization": f"Bearer {TOKEN[:-1]}"}):
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["code"] == "UNAUTHENTICATED"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "mca_" not in r.text
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        assert "mca_pending_messages" in r.text


async def test_development_without_a_token_serves_metrics_locally(settings, clean):
    async with _client(settings, app_env="development", metrics_token=None) as client:
        r = await client.get("/metrics")
        assert r.status_code == 200 and "mca_webhook_requests_total" in r.text
