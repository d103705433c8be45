"""Proof that an access token owns the provider account a tenant wants to connect.

Without it any tenant could connect someone else's phone number id or Instagram account id and
receive that business's customers' messages. Meta is asked, with the token, who the account
is: WhatsApp `GET /{phone_number_id}?fields=id,display_phone_number,verified_name` answers
the number only to a token of the business that owns it; Instagram `GET /me` answers the
account the token was issued for. Nothing is stored until the answer names the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.channels.adapters.graph import error_from_response
from app.config import Settings
from app.errors import ChannelVerificationFailed

WHATSAPP_FIELDS = "id,display_phone_number,verified_name"
INSTAGRAM_FIELDS = "user_id,username"

# What each Graph code means for a connection attempt, so the tenant knows what to fix.
_REASONS = {
    "190": "the access token is invalid or expired",
    "102": "the access token is invalid or expired",
    "100": "the token cannot see this account: it does not exist or belongs to another business",
    "10": "the token lacks the permission to manage this account",
    "200": "the token lacks the permission to manage this account",
}


@dataclass(frozen=True)
class VerifiedAccount:
    """What Meta said about an account, for the token that asked."""

    kind: str
    account_id: str
    # WhatsApp: the number's verified business name; Instagram: the username.
    name: str
    # WhatsApp only: the number as Meta displays it, e.g. "+1 555-000-1111".
    display_phone_number: str | None = None

    def as_settings(self) -> dict[str, str]:
        stored = {"verified_name": self.name}
        if self.display_phone_number:
            stored["display_phone_number"] = self.display_phone_number
        return stored


def _request(settings: Settings, kind: str, account_id: str) -> tuple[str, str]:
    if kind == "whatsapp":
        return f"{settings.meta_graph_api_base_url}/{account_id}", WHATSAPP_FIELDS
    return f"{settings.instagram_graph_api_base_url}/me", INSTAGRAM_FIELDS


async def verify_account(
    http: httpx.AsyncClient, settings: Settings, kind: str, account_id: str, token: str
) -> VerifiedAccount:
    """The account as Meta describes it to `token`, or ChannelVerificationFailed saying why."""
    url, fields = _request(settings, kind, account_id)
    try:
        response = await http.get(
            url, params={"fields": fields}, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        raise ChannelVerificationFailed(
            f"channel verification failed: the Graph API could not be reached "
            f"({type(exc).__name__}); nothing was connected, try again"
        ) from None
    if response.status_code != 200:
        error = error_from_response(response)
        reason = _REASONS.get(error.code or "", "Meta refused the request")
        raise ChannelVerificationFailed(
            f"channel verification failed: {reason} (Graph error {error.code}: {error.title})"
        )
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ChannelVerificationFailed("channel verification failed: unreadable Graph answer")
    if kind == "whatsapp":
        answered = str(body.get("id") or "")
        name = str(body.get("verified_name") or "")
        phone = str(body.get("display_phone_number") or "") or None
    else:
        answered = str(body.get("user_id") or "")
        name = str(body.get("username") or "")
        phone = None
    if answered != account_id:
        raise ChannelVerificationFailed(
            f"channel verification failed: the token belongs to account {answered or '(none)'}, "
            f"not {account_id}"
        )
    return VerifiedAccount(kind, account_id, name[:200], phone[:40] if phone else None)


async def verify_business_account(
    http: httpx.AsyncClient, settings: Settings, waba_id: str, phone_number_id: str, token: str
) -> None:
    """Meta confirms, to the channel's token, that the WhatsApp Business Account holds the
    number (`GET /{waba_id}/phone_numbers`): a tenant cannot point its channel at another
    business's templates."""
    url = f"{settings.meta_graph_api_base_url.rstrip('/')}/{waba_id}/phone_numbers"
    try:
        response = await http.get(url, params={"fields": "id", "limit": "100"},
                                  headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise ChannelVerificationFailed(
            f"WhatsApp Business Account {waba_id} could not be verified: the Graph API could "
            f"not be reached ({type(exc).__name__}); try again"
        ) from None
    if response.status_code != 200:
        error = error_from_response(response)
        reason = _REASONS.get(error.code or "", "Meta refused the request")
        raise ChannelVerificationFailed(
            f"WhatsApp Business Account {waba_id} could not be verified: {reason} "
            f"(Graph error {error.code}: {error.title})"
        )
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    data = body.get("data") if isinstance(body, dict) else None
    numbers = {str(n.get("id")) for n in data if isinstance(n, dict)} if isinstance(data, list) else set()
    if phone_number_id not in numbers:
        raise ChannelVerificationFailed(
            f"WhatsApp Business Account {waba_id} does not hold phone number {phone_number_id}"
        )
