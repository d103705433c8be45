"""The media store's one interface, behind both implementations: files under DATA_DIR, and an
S3-compatible bucket, here a real S3 server (moto's server mode) reached over HTTP by
aiobotocore."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

from app.config import Settings
from app.media.store import LocalStore, MediaStore, S3Store, object_key, open_store
from tests.helpers import free_port

BUCKET = "mca-media-test"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3_settings(url: str) -> Settings:
    return Settings(media_store="s3", s3_bucket=BUCKET, s3_endpoint_url=url,
                    s3_access_key_id="test", s3_secret_access_key="test")


@pytest.fixture
async def s3_store(s3_url: str) -> AsyncIterator[MediaStore]:
    async with get_session().create_client(
        "s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as s3:
        try:
            await s3.create_bucket(Bucket=BUCKET)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    store = open_store(_s3_settings(s3_url))
    assert isinstance(store, S3Store)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def local_store(tmp_path: Path) -> AsyncIterator[MediaStore]:
    store = LocalStore(tmp_path / "media")
    yield store
    await store.close()


@pytest.fixture(params=["local", "s3"])
def store(request: Any) -> MediaStore:
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


async def test_put_get_and_delete_per_conversation_and_tenant(store: MediaStore) -> None:
    tenant, other_tenant = uuid.uuid4(), uuid.uuid4()
    conv_a, conv_b = uuid.uuid4(), uuid.uuid4()
    a1 = object_key(tenant, conv_a, uuid.uuid4())
    a2 = object_key(tenant, conv_a, uuid.uuid4())
    b1 = object_key(tenant, conv_b, uuid.uuid4())
    theirs = object_key(other_tenant, conv_a, uuid.uuid4())
    for i, key in enumerate((a1, a2, b1, theirs)):
        await store.put(key, f"bytes {i}".encode() * 1000, "image/jpeg")
    assert await store.get(a2) == b"bytes 1" * 1000
    assert await store.get(object_key(tenant, conv_a, uuid.uuid4())) is None

    # A conversation's files go together, and nothing of another conversation or tenant.
    assert await store.delete_prefix(f"{tenant}/{conv_a}") == 2
    assert await store.get(a1) is None and await store.get(a2) is None
    assert await store.get(b1) == b"bytes 2" * 1000
    assert await store.get(theirs) == b"bytes 3" * 1000
    assert await store.delete_prefix(str(tenant)) == 1
    assert await store.get(b1) is None
    assert await store.get(theirs) == b"bytes 3" * 1000


async def test_s3_objects_are_in_the_bucket_under_the_tenant(s3_store: MediaStore,
                                                             s3_url: str) -> None:
    key = object_key(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    await s3_store.put(key, b"%PDF-1.4", "application/pdf")
    async with get_session().create_client(
        "s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as s3:
        head = await s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "application/pdf" and head["ContentLength"] == 8


async def test_local_keys_cannot_leave_the_folder(local_store: MediaStore) -> None:
    for bad in ("../escape", "a/../../b", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            await local_store.put(bad, b"x", "text/plain")


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="s3_bucket"):
        Settings(media_store="s3")
