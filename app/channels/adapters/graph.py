"""What WhatsApp and Instagram share: Graph API errors and how each code is handled."""

from __future__ import annotations

from typing import Any

import httpx

from app.channels.adapters.base import SendError

# Meta asks integrations to branch on `code` (and error_data.details), not on HTTP status.
RETRYABLE_CODES = {"1", "2", "4", "17", "32", "613", "80007", "130429", "131000", "131016",
                   "131056", "131057", "133016"}
REAUTH_CODES = {"0", "190", "102"}
WINDOW_CLOSED_CODES = {"131047"}
# Instagram: (#10) "outside of allowed window" (subcode 2534022).
IG_WINDOW_SUBCODES = {"2534022"}
PAIR_RATE_LIMIT = "131056"
# Meta pacing us (app, account, number or recipient rate limits), as opposed to failing.
RATE_LIMIT_CODES = {"4", "17", "32", "613", "80007", "130429", PAIR_RATE_LIMIT}


def error_from_response(response: httpx.Response) -> SendError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        kind = "retry" if response.status_code >= 500 or response.status_code == 429 else "permanent"
        return SendError(kind, str(response.status_code), f"HTTP {response.status_code}")
    code = str(err.get("code", response.status_code))
    subcode = str(err.get("error_subcode", ""))
    data = err.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    message = str(err.get("message") or "")
    title = str(details or message or f"error {code}")[:500]
    if code in WINDOW_CLOSED_CODES or subcode in IG_WINDOW_SUBCODES or (
        code == "10" and "allowed window" in message.lower()
    ):
        return SendError("window_closed", code, title)
    if code in REAUTH_CODES:
        return SendError("reauth", code, title)
    if code in RETRYABLE_CODES or response.status_code >= 500 or err.get("is_transient") is True:
        return SendError("retry", code, title)
    return SendError("permanent", code, title)


async def post(
    http: httpx.AsyncClient, url: str, token: str | None, body: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> dict[str, Any]:
    """POST to the Graph API (JSON, or a multipart form with `files`). A request that may have
    reached Meta but got no answer is `unknown`."""
    headers = {"Authorization": f"Bearer {token or ''}"}
    try:
        if files is not None:
            response = await http.post(url, data=body, files=files, headers=headers)
        else:
            response = await http.post(url, json=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Never left this machine: safe to try again.
        raise SendError("retry", None, f"connection failed: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise SendError("unknown", None, f"no answer: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise error_from_response(response)
    try:
        data = response.json()
    except ValueError as exc:
        raise SendError("unknown", None, "unreadable success response") from exc
    return data if isinstance(data, dict) else {}
