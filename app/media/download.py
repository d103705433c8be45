"""Fetching a customer's file from Meta, in the worker, never more than the limits allow.

WhatsApp: GET {graph}/{media_id} with the channel's token answers a URL valid for 5 minutes
(and the file's size, type and SHA-256); GET that URL with the same token gives the bytes.
A media id expires after 7 days. Instagram: the attachment's CDN URL gives the bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from app.channels.adapters.payload import as_dict, as_str
from app.media.refs import MediaRef


class MediaError(Exception):
    """Why a file could not be used; `reason` is stored on the message and its attachment."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Downloaded:
    data: bytes
    mime_type: str
    sha256: str


async def download(http: httpx.AsyncClient, graph_base: str, token: str | None, ref: MediaRef,
                   max_bytes: int) -> Downloaded:
    limit = min(ref.limit, max_bytes)
    headers = {"Authorization": f"Bearer {token or ''}"} if ref.media_id else {}
    mime, sha = ref.mime_type, ref.sha256
    if ref.media_id:
        url, mime, sha = await _whatsapp_url(http, graph_base, headers, ref, limit)
    else:
        url = ref.url or ""
    data, served_type = await _fetch(http, url, headers, limit)
    digest = hashlib.sha256(data).hexdigest()
    if sha and sha.lower() != digest:
        raise MediaError("media_corrupt", "the SHA-256 Meta gave does not match the bytes")
    return Downloaded(data, mime or served_type or "application/octet-stream", digest)


async def _whatsapp_url(http: httpx.AsyncClient, graph_base: str, headers: dict[str, str],
                        ref: MediaRef, limit: int) -> tuple[str, str | None, str | None]:
    try:
        r = await http.get(f"{graph_base.rstrip('/')}/{ref.media_id}", headers=headers)
    except httpx.HTTPError as exc:
        raise MediaError("media_download_failed", type(exc).__name__) from exc
    try:
        body = as_dict(r.json())
    except ValueError:
        body = {}
    if r.status_code != 200:
        err = as_dict(body.get("error"))
        # An unknown or expired id: Meta answers 400 (code 100, no such object) or 404.
        if r.status_code in (400, 404, 410) and str(err.get("code")) not in ("190", "102"):
            raise MediaError("media_expired", str(err.get("message") or r.status_code)[:200])
        raise MediaError("media_download_failed", f"HTTP {r.status_code}")
    url = as_str(body.get("url"))
    if url is None:
        raise MediaError("media_download_failed", "no url in the media lookup")
    size = body.get("file_size")
    if isinstance(size, int) and size > limit:
        raise MediaError("media_too_large", f"{size} bytes, the limit is {limit}")
    mime = ref.mime_type or as_str(body.get("mime_type"))
    return url, mime, ref.sha256 or as_str(body.get("sha256"))


async def _fetch(http: httpx.AsyncClient, url: str, headers: dict[str, str],
                 limit: int) -> tuple[bytes, str | None]:
    """The body, streamed and cut off past `limit` bytes (a size header may be missing or
    wrong)."""
    try:
        async with http.stream("GET", url, headers=headers) as r:
            if r.status_code in (403, 404, 410):
                # The 5-minute URL (or the CDN link) is gone.
                raise MediaError("media_expired", f"HTTP {r.status_code}")
            if r.status_code != 200:
                raise MediaError("media_download_failed", f"HTTP {r.status_code}")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise MediaError("media_too_large", f"{declared} bytes, the limit is {limit}")
            chunks: list[bytes] = []
            total = 0
            async for chunk in r.aiter_bytes():
                total += len(chunk)
                if total > limit:
                    raise MediaError("media_too_large", f"more than {limit} bytes")
                chunks.append(chunk)
            served = r.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise MediaError("media_download_failed", type(exc).__name__) from exc
    mime = served.split(";")[0].strip().lower() if served else None
    return b"".join(chunks), mime
