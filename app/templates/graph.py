"""What Meta is asked about templates (the business account's template list, paged) and what
Meta's template errors mean."""

from __future__ import annotations

from typing import Any

import httpx

from app.channels.adapters.graph import error_from_response
from app.channels.adapters.payload import as_dict, as_list, as_str
from app.config import Settings
from app.errors import ProviderUnavailable

TEMPLATE_FIELDS = "id,name,language,status,category,components,parameter_format"
PAGE_SIZE = 100
# Meta caps a business account at a few hundred templates (250 for most); a runaway cursor
# must not loop for ever.
MAX_PAGES = 50

# Meta's template error codes (error-codes page, external-apis.md A9), in words a tenant can act on.
TEMPLATE_ERRORS: dict[str, str] = {
    "132000": "the number of parameters does not match the template",
    "132001": "the template does not exist in this language, or is not approved yet",
    "132005": "the text with its parameters is too long",
    "132007": "the template's text breaks Meta's formatting policy",
    "132012": "a parameter's format does not match what the template expects",
    "132015": "the template is paused by Meta for low quality",
    "132016": "the template is disabled by Meta for low quality",
    "132068": "the template's Flow is blocked",
    "132069": "the template's Flow is throttled",
    "131008": "a required template parameter is missing",
    "131009": "a template parameter's value is not valid",
    "131049": "Meta did not deliver it to keep engagement healthy; do not resend within 24 hours",
    "131050": "the customer stopped marketing messages from this business",
}
# Codes after which our copy of the templates is stale (a template gone, paused or disabled).
STALE_CODES = frozenset({"132001", "132015", "132016"})


def template_error_title(code: str | None, meta_title: str | None) -> str | None:
    """A clear title for a template error; None for other codes."""
    words = TEMPLATE_ERRORS.get(code or "")
    if words is None:
        return None
    return f"template refused: {words} (Meta {code}: {meta_title or 'no details'})"[:500]


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _get(http: httpx.AsyncClient, url: str, params: dict[str, str], token: str) -> dict[str, Any]:
    try:
        response = await http.get(url, params=params, headers=_headers(token))
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"the Graph API could not be reached ({type(exc).__name__}); try again"
        ) from None
    if response.status_code != 200:
        err = error_from_response(response)
        raise ProviderUnavailable(f"Meta refused the request (Graph error {err.code}: {err.title})")
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderUnavailable("unreadable Graph answer")
    return body


async def list_templates(
    http: httpx.AsyncClient, settings: Settings, waba_id: str, token: str
) -> list[dict[str, Any]]:
    """Every template of the business account, following Meta's `after` cursors."""
    url = f"{settings.meta_graph_api_base_url.rstrip('/')}/{waba_id}/message_templates"
    params = {"fields": TEMPLATE_FIELDS, "limit": str(PAGE_SIZE)}
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        body = await _get(http, url, params, token)
        found += [as_dict(t) for t in as_list(body.get("data")) if as_dict(t)]
        paging = as_dict(body.get("paging"))
        after = as_str(as_dict(paging.get("cursors")).get("after"))
        if not as_str(paging.get("next")) or not after:
            return found
        params = {**params, "after": after}
    return found
