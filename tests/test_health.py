from __future__ import annotations


async def test_healthz_and_readyz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


async def test_readyz_names_what_is_down(app, client):
    rt = app.state.runtime
    real = rt.redis

    class Down:
        async def ping(self) -> None:
            raise ConnectionError("down")

    rt.redis = Down()
    try:
        r = await client.get("/readyz")
    finally:
        rt.redis = real
    assert r.status_code == 503
    assert r.json()["failing"] == ["redis"]


async def test_errors_are_json_with_correlation_id(client):
    r = await client.get("/no-such-page", headers={"X-Correlation-ID": "abc-123"})
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "NOT_FOUND" and body["correlationId"] == "abc-123"
    assert "timestamp" in body and "error" in body
    assert r.headers["x-correlation-id"] == "abc-123"
    r = await client.get("/healthz")
    assert len(r.headers["x-correlation-id"]) == 32
