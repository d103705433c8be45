"""The media store: one small interface, files under DATA_DIR or an S3-compatible bucket.

Keys are `<tenant id>/<conversation id>/<attachment id>`: every object belongs to one tenant,
and a conversation's (or a tenant's) objects go with one prefix delete."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

from app.config import Settings


def object_key(tenant_id: uuid.UUID, conversation_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"{tenant_id}/{conversation_id}/{attachment_id}"


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (a tenant id, or tenant/conversation)."""
        ...

    async def close(self) -> None: ...


class LocalStore:
    """Files under one folder: one machine, zero setup."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"bad media key {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see half a file

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete_prefix(self, prefix: str) -> int:
        path = self._path(prefix.rstrip("/"))

        def remove() -> int:
            if path.is_file():
                path.unlink()
                return 1
            if not path.is_dir():
                return 0
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path, ignore_errors=True)
            return count

        return await asyncio.to_thread(remove)

    async def close(self) -> None:
        return None


class S3Store:
    """An S3-compatible bucket (AWS S3, MinIO, R2, ...) through aiobotocore, for several
    machines sharing one store."""

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.required("s3_bucket")
        self._settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    # Loaded only when S3 is configured: aiobotocore is the optional `s3` extra.
                    from aiobotocore.session import get_session

                    s = self._settings
                    self._client = await self._stack.enter_async_context(
                        get_session().create_client(
                            "s3", region_name=s.s3_region, endpoint_url=s.s3_endpoint_url,
                            aws_access_key_id=s.s3_access_key_id,
                            aws_secret_access_key=s.s3_secret_access_key,
                        )
                    )
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes | None:
        s3 = await self._s3()
        try:
            obj = await s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        async with obj["Body"] as stream:
            data: bytes = await stream.read()
        return data

    async def delete_prefix(self, prefix: str) -> int:
        s3 = await self._s3()
        count = 0
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/"):
            keys = [{"Key": o["Key"]} for o in page.get("Contents") or ()]
            if keys:
                await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


def open_store(settings: Settings) -> MediaStore:
    if settings.media_store == "s3":
        return S3Store(settings)
    return LocalStore(settings.data_dir / "media")
