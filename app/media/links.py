"""Short-lived signed links to kept files: `/media/{attachment id}?expires=&sig=`.

The signature covers the attachment, its tenant and the expiry, keyed from APP_ENCRYPTION_KEY:
a link works for MEDIA_URL_TTL_S, for that one file, and a link for one tenant's file can
never be turned into another's."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from app.config import Settings


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.encryption_key.encode(), b"media-links", hashlib.sha256).digest()


def signature(settings: Settings, attachment_id: uuid.UUID, tenant_id: uuid.UUID,
              expires: int) -> str:
    msg = f"{attachment_id}.{tenant_id}.{expires}".encode()
    return hmac.new(_key(settings), msg, hashlib.sha256).hexdigest()


def signed_path(settings: Settings, attachment_id: uuid.UUID, tenant_id: uuid.UUID,
                now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + settings.media_url_ttl_s
    sig = signature(settings, attachment_id, tenant_id, expires)
    return f"/media/{attachment_id}?expires={expires}&sig={sig}"


def valid(settings: Settings, attachment_id: uuid.UUID, tenant_id: uuid.UUID, expires: int,
          sig: str) -> bool:
    return hmac.compare_digest(signature(settings, attachment_id, tenant_id, expires), sig)
