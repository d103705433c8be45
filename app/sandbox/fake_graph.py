"""Fake Meta Graph API: the WhatsApp Cloud API and Instagram send endpoints.

Served over real HTTP so that workers in other processes can send to it and tests can
script failures and read what was sent through the admin endpoints:

- ``POST /{version}/{account_id}/messages``: the send endpoint (WhatsApp phone_number_id,
  Instagram account id, or ``me``).
- ``GET /{version}/{phone_number_id}?fields=id,display_phone_number,verified_name`` and
  ``GET /{version}/me?fields=user_id,username``: who an account is, answered only to a token
  that owns it (registered with ``POST /_fake/accounts``); any other token gets Meta's
  errors: 190 for a token the fake does not know, 100 for an account it does not own.
- ``POST /_fake/accounts``: ``{"token", "account_id", "kind": "whatsapp"|"instagram",
  "name", "display_phone_number"}``: that token owns that account. ``GET /_fake/accounts``;
  ``GET /_fake/lookups`` lists the lookups (kept apart from the sends of ``/_fake/requests``).
- ``POST /_fake/script``: ``{"responses": [entry, ...], "default_delay_ms": 0, "append": false}``.
  Entries are a FIFO consumed by successive matching requests; an unscripted request
  succeeds. Entry keys (all optional): ``status`` (HTTP status), ``code`` (Graph error
  code), ``title``, ``details``, ``error_subcode``, ``type``, ``delay_ms``, ``drop``,
  ``match_account`` (only consumed by that account id) and ``match_kind`` (``"send"``, the
  default, ``"action"`` for WhatsApp mark-as-read/typing and Instagram sender actions,
  ``"lookup"`` for the account lookups, or ``"any"``).
- ``GET /_fake/script``, ``GET /_fake/requests[?account_id=&kind=]``, ``POST /_fake/reset``,
  ``GET /_fake/health``.
- WhatsApp Business Accounts: ``POST /_fake/wabas`` ``{"waba_id", "token", "phone_numbers":
  [...], "templates": [...]}`` (templates as Meta lists them: name, language, status,
  category, components, parameter_format, id) replaces that account. ``GET
  /{version}/{waba_id}/message_templates?limit=&after=`` lists its templates in pages (cursor
  ``after``, ``paging.next`` while more remain); ``GET /{version}/{waba_id}/phone_numbers``
  its numbers; both only to its token (190 / 100 otherwise) and both recorded in
  ``/_fake/lookups``. A template send from one of its numbers is checked as Meta does: an
  unknown or unapproved name/language is 132001, a wrong number of body parameters 132000.
- Media (customers' files, uploads): see app/sandbox/fake_media.py.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.sandbox.fake_media import MediaState, media_error, media_lookup, media_routes

# How long a dropped request hangs: longer than any client timeout the platform uses, so the
# client gives up without an answer, as when the request reached Meta but the reply was lost.
DROP_DELAY_MS = 30_000

WA_TEXT_LIMIT_CHARS = 4096
IG_TEXT_LIMIT_BYTES = 1000

# Titles and details as Meta words them, so that logs in tests read like production logs.
_KNOWN_ERRORS: dict[int, tuple[str, str]] = {
    2: ("Service temporarily unavailable", "Service temporarily unavailable"),
    4: ("Application request limit reached", "Too many calls"),
    10: ("Application does not have permission for this action", "Permission denied"),
    100: ("Invalid parameter", "Invalid parameter"),
    190: ("Access token has expired", "Error validating access token"),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("Something went wrong", "Something went wrong"),
    131026: ("Message undeliverable", "Message undeliverable"),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: ("Spam rate limit hit", "Message failed to send because of restrictions."),
    131051: ("Unsupported message type", "Message type is not currently supported."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    131057: ("Account in maintenance mode", "Business account is in maintenance mode"),
}

Json = dict[str, Any]


def graph_error(
    code: int,
    title: str | None = None,
    details: str | None = None,
    *,
    whatsapp: bool = True,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    seq: int = 0,
) -> Json:
    """An error body in Meta's exact Graph format (see external-apis.md A8)."""
    known_title, known_details = _KNOWN_ERRORS.get(code, ("Unknown error", "Unknown error"))
    error: Json = {
        "message": f"(#{code}) {title or known_title}",
        "type": error_type,
        "code": code,
    }
    # Only the WhatsApp Cloud API adds error_data; Instagram errors do not carry it (B3).
    if whatsapp:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or known_details}
    if subcode is not None:
        error["error_subcode"] = subcode
    if code in (1, 2, 4, 130429, 131000, 131016, 131057):
        error["is_transient"] = True
    error["fbtrace_id"] = f"AFake{seq}{uuid.uuid4().hex[:12]}"
    return {"error": error}


def _is_whatsapp(body: Json) -> bool:
    return body.get("messaging_product") == "whatsapp"


def _kind(body: Json) -> str:
    if _is_whatsapp(body):
        return "action" if body.get("status") == "read" else "send"
    return "action" if "sender_action" in body and "message" not in body else "send"


def _validation_error(body: Json, seq: int) -> Json | None:
    """The 400 Meta would return for an obviously malformed send, so platform bugs surface."""
    if _is_whatsapp(body):
        if body.get("status") == "read":
            if not body.get("message_id"):
                return graph_error(100, details="The parameter message_id is required.", seq=seq)
            return None
        if not body.get("to"):
            return graph_error(100, details="The parameter to is required.", seq=seq)
        text = body.get("text")
        if isinstance(text, dict) and len(str(text.get("body", ""))) > WA_TEXT_LIMIT_CHARS:
            return graph_error(
                100, details="Param text['body'] must be at most 4096 characters long.", seq=seq
            )
        return None
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        return graph_error(100, details="The parameter recipient is required.", whatsapp=False)
    message = body.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    if text is not None and len(str(text).encode("utf-8")) > IG_TEXT_LIMIT_BYTES:
        title = "Length of param message[text] must be less than or equal to 1000"
        return graph_error(100, title, whatsapp=False, seq=seq)
    return None


def _success(body: Json, seq: int) -> Json:
    if _is_whatsapp(body):
        if body.get("status") == "read":
            return {"success": True}
        to = str(body.get("to", ""))
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": re.sub(r"\D", "", to)}],
            "messages": [{"id": f"wamid.FAKE{seq}"}],
        }
    recipient_id = str(body["recipient"]["id"])
    # Sender actions (typing, mark_seen, react) get no message id from Meta.
    if "message" not in body:
        return {"recipient_id": recipient_id}
    return {"recipient_id": recipient_id, "message_id": f"mid.FAKE{seq}"}


def _scripted_outcome(entry: Json, body: Json, seq: int) -> tuple[int, Json] | None:
    """(status, body) for a scripted failure, or None when the entry lets the send succeed."""
    status = entry.get("status")
    code = entry.get("code")
    if code is None and (status is None or int(status) < 400):
        return None
    if code is None:
        code = 2 if int(status or 0) >= 500 else 100
    error = graph_error(
        int(code),
        entry.get("title"),
        entry.get("details"),
        whatsapp=_is_whatsapp(body),
        subcode=entry.get("error_subcode"),
        error_type=str(entry.get("type", "OAuthException")),
        seq=seq,
    )
    return (int(status) if status is not None else 400), error


class GraphState:
    """Everything the fake remembers; one instance per app, used from one event loop."""

    def __init__(self, default_delay_ms: float = 0) -> None:
        self.initial_delay_ms = default_delay_ms
        self.default_delay_ms = default_delay_ms
        self.requests: list[Json] = []
        self.lookups: list[Json] = []
        self.script: list[Json] = []
        # token -> the accounts it owns, each {"kind", "account_id", "name", ...}.
        self.owners: dict[str, list[Json]] = {}
        self.initial_owners: list[Json] = []
        # waba_id -> {"token", "phone_numbers", "templates"}.
        self.wabas: dict[str, Json] = {}
        # Never reset: message ids must stay unique across resets because the platform
        # stores them under unique constraints in a database that outlives a test.
        self.seq = itertools.count(1)
        # Customers' files and uploads (app/sandbox/fake_media.py).
        self.media = MediaState()

    def reset(self) -> None:
        self.media.reset()
        self.requests.clear()
        self.lookups.clear()
        self.script.clear()
        self.owners.clear()
        self.wabas.clear()
        for owner in self.initial_owners:
            self.own(owner)

    def own(self, payload: Json) -> None:
        account = _owned(payload)
        owned = self.owners.setdefault(str(payload["token"]), [])
        # An Instagram token is issued for exactly one account (what `/me` answers).
        if account["kind"] == "instagram":
            owned[:] = [a for a in owned if a["kind"] != "instagram"]
        owned.append(account)
        self.default_delay_ms = self.initial_delay_ms

    def take(self, account_id: str, kind: str) -> Json:
        for index, entry in enumerate(self.script):
            wanted_kind = entry.get("match_kind", "send")
            if wanted_kind not in ("any", kind):
                continue
            wanted_account = entry.get("match_account")
            if wanted_account is not None and str(wanted_account) != account_id:
                continue
            return self.script.pop(index)
        return {}


def _lookup_answer(state: GraphState, token: str, account_id: str, seq: int) -> tuple[int, Json]:
    """What Meta answers a token asking who `account_id` (or ``me``) is."""
    owned = state.owners.get(token)
    if owned is None:
        return 400, graph_error(
            190, "Invalid OAuth access token - Cannot parse access token", seq=seq
        )
    if account_id == "me":
        account = next((a for a in owned if a["kind"] == "instagram"), None)
        if account is None:
            return 400, graph_error(100, "Tried accessing nonexisting field (user_id)",
                                    whatsapp=False, seq=seq)
        return 200, {"user_id": account["account_id"], "username": account["name"],
                     "id": f"9{account['account_id']}"}
    account = next(
        (a for a in owned if a["kind"] == "whatsapp" and a["account_id"] == account_id), None
    )
    if account is None:
        # Meta's words for an object the token may not see, whether or not it exists.
        return 400, graph_error(
            100,
            f"Unsupported get request. Object with ID '{account_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation",
            subcode=33, error_type="GraphMethodException", seq=seq,
        )
    return 200, {"id": account_id, "verified_name": account["name"],
                 "display_phone_number": account.get("display_phone_number") or "+1 555-0100"}


def _placeholders(text: Any) -> int:
    return len(set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", str(text or ""))))


def _template_error(state: GraphState, account_id: str, body: Json, seq: int) -> Json | None:
    """Meta's answer to a template it would refuse, for numbers of a known business account."""
    if body.get("type") != "template":
        return None
    waba = next((w for w in state.wabas.values() if account_id in w["phone_numbers"]), None)
    if waba is None:
        return None
    raw = body.get("template")
    template: Json = raw if isinstance(raw, dict) else {}
    language = (template.get("language") or {}).get("code")
    found = next((t for t in waba["templates"] if t.get("name") == template.get("name")
                  and t.get("language") == language and t.get("status") == "APPROVED"), None)
    if found is None:
        return graph_error(132001, "Template name does not exist in the translation",
                           f"template name ({template.get('name')}) does not exist in {language}",
                           seq=seq)
    body_text = next((c.get("text") for c in found.get("components", [])
                      if str(c.get("type")).upper() == "BODY"), "")
    given = 0
    for c in template.get("components") or []:
        if isinstance(c, dict) and c.get("type") == "body":
            given += len(c.get("parameters") or [])
    if given != _placeholders(body_text):
        return graph_error(132000, "Number of parameters does not match the expected number of "
                           "params", f"body: number of localizable_params ({given}) does not "
                           f"match the expected number of params ({_placeholders(body_text)})",
                           seq=seq)
    return None


def _owned(payload: Json) -> Json:
    return {"kind": payload["kind"], "account_id": str(payload["account_id"]),
            "name": str(payload.get("name") or f"Business {payload['account_id']}"),
            "display_phone_number": payload.get("display_phone_number")}


def create_app(default_delay_ms: float = 0, owners: list[Json] | None = None) -> Starlette:
    """`owners`: ``{"token", "account_id", "kind"}`` the fake knows from the start (and keeps
    across ``/_fake/reset``), as ``python -m app.sandbox graph --owner`` passes them."""
    state = GraphState(default_delay_ms)
    state.initial_owners = list(owners or [])
    state.reset()

    async def lookup(request: Request) -> JSONResponse:
        seq = next(state.seq)
        account_id = request.path_params["account_id"]
        if account_id in state.media.files:
            return media_lookup(state.media, request, account_id)
        auth = request.headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        record: Json = {"id": seq, "ts": time.time(), "path": request.url.path,
                        "account_id": account_id, "fields": request.query_params.get("fields"),
                        "authorization": auth or None}
        state.lookups.append(record)
        entry = state.take(account_id, "lookup")
        if entry.get("delay_ms"):
            await asyncio.sleep(float(entry["delay_ms"]) / 1000)
        scripted = _scripted_outcome(entry, {"messaging_product": "whatsapp"}, seq)
        status, payload = scripted if scripted is not None else _lookup_answer(
            state, token, account_id, seq)
        record["status"] = status
        return JSONResponse(payload, status_code=status)

    async def accounts(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                payload = await request.json()
            except ValueError:
                payload = None
            if (not isinstance(payload, dict) or not payload.get("token")
                    or not payload.get("account_id")
                    or payload.get("kind") not in ("whatsapp", "instagram")):
                return JSONResponse(
                    {"error": "expected {'token', 'account_id', 'kind': 'whatsapp'|'instagram'}"},
                    400,
                )
            state.own(payload)
        return JSONResponse({"owners": state.owners})

    async def list_lookups(_: Request) -> JSONResponse:
        return JSONResponse({"lookups": state.lookups})

    async def messages(request: Request) -> JSONResponse:
        seq = next(state.seq)
        account_id = request.path_params["account_id"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        auth = request.headers.get("authorization")
        record: Json = {
            "id": seq,
            "ts": time.time(),
            "path": request.url.path,
            "version": request.path_params["version"],
            "account_id": account_id,
            "authorization": auth,
            "json": body,
            "kind": _kind(body) if isinstance(body, dict) else None,
        }
        state.requests.append(record)

        def answer(status: int, payload: Json) -> JSONResponse:
            record["status"] = status
            record["response"] = payload
            return JSONResponse(payload, status_code=status)

        if not auth or not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return answer(401, graph_error(190, "Invalid OAuth access token", seq=seq))
        if not isinstance(body, dict):
            return answer(400, graph_error(100, details="Request body must be a JSON object."))
        invalid = _validation_error(body, seq) or media_error(state.media, body)
        if invalid is not None:
            return answer(400, invalid)

        entry = state.take(account_id, record["kind"])
        delay_ms = state.default_delay_ms + float(entry.get("delay_ms", 0))
        if entry.get("drop"):
            record["dropped"] = True
            delay_ms = float(entry.get("delay_ms", DROP_DELAY_MS))
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        scripted = _scripted_outcome(entry, body, seq)
        if scripted is not None:
            return answer(*scripted)
        refused = _template_error(state, account_id, body, seq)
        if refused is not None:
            return answer(400, refused)
        # A dropped request still succeeds at "Meta": the message went out, only the answer
        # never reached the client. That is the ambiguous case retries must handle.
        return answer(200, _success(body, seq))

    async def script(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                payload = await request.json()
            except ValueError:
                payload = None
            responses = payload.get("responses", []) if isinstance(payload, dict) else None
            if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
                return JSONResponse({"error": "expected {'responses': [{...}, ...]}"}, 400)
            if not payload.get("append"):
                state.script.clear()
            state.script.extend(responses)
            if "default_delay_ms" in payload:
                state.default_delay_ms = float(payload["default_delay_ms"] or 0)
        return JSONResponse({"responses": state.script, "default_delay_ms": state.default_delay_ms})

    async def list_requests(request: Request) -> JSONResponse:
        account_id = request.query_params.get("account_id")
        kind = request.query_params.get("kind")
        found = [
            r
            for r in state.requests
            if (account_id is None or r["account_id"] == account_id)
            and (kind is None or r["kind"] == kind)
        ]
        return JSONResponse({"requests": found})

    async def wabas(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                payload = await request.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict) or not payload.get("waba_id") or not payload.get("token"):
                return JSONResponse({"error": "expected {'waba_id', 'token', 'phone_numbers', "
                                              "'templates'}"}, 400)
            state.wabas[str(payload["waba_id"])] = {
                "token": str(payload["token"]),
                "phone_numbers": [str(n) for n in payload.get("phone_numbers") or []],
                "templates": list(payload.get("templates") or []),
            }
        return JSONResponse({"wabas": state.wabas})

    def _waba_for(request: Request, seq: int) -> Json | JSONResponse:
        waba_id = request.path_params["waba_id"]
        auth = request.headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        state.lookups.append({"id": seq, "ts": time.time(), "path": request.url.path,
                              "account_id": waba_id, "query": dict(request.query_params),
                              "authorization": auth or None})
        waba = state.wabas.get(waba_id)
        if token not in state.owners and (waba is None or waba["token"] != token):
            return JSONResponse(graph_error(190, "Invalid OAuth access token", seq=seq), 400)
        if waba is None or waba["token"] != token:
            return JSONResponse(graph_error(
                100, f"Unsupported get request. Object with ID '{waba_id}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation",
                subcode=33, error_type="GraphMethodException", seq=seq), 400)
        return waba

    async def message_templates(request: Request) -> JSONResponse:
        seq = next(state.seq)
        entry = state.take(request.path_params["waba_id"], "lookup")
        scripted = _scripted_outcome(entry, {"messaging_product": "whatsapp"}, seq)
        if scripted is not None:
            return JSONResponse(scripted[1], scripted[0])
        waba = _waba_for(request, seq)
        if isinstance(waba, JSONResponse):
            return waba
        try:
            limit = max(1, min(int(request.query_params.get("limit", "25")), 250))
            start = int(request.query_params.get("after") or "0")
        except ValueError:
            return JSONResponse(graph_error(100, details="Invalid parameter", seq=seq), 400)
        items = waba["templates"][start:start + limit]
        page: Json = {"data": items, "paging": {"cursors": {"before": str(start),
                                                            "after": str(start + len(items))}}}
        if start + limit < len(waba["templates"]):
            page["paging"]["next"] = (f"{request.url.replace(query='')}?limit={limit}"
                                      f"&after={start + limit}")
        return JSONResponse(page)

    async def phone_numbers(request: Request) -> JSONResponse:
        seq = next(state.seq)
        waba = _waba_for(request, seq)
        if isinstance(waba, JSONResponse):
            return waba
        return JSONResponse({"data": [{"id": n} for n in waba["phone_numbers"]]})

    async def reset(_: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"ok": True})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "service": "fake-graph"})

    app = Starlette(
        routes=[
            Route("/_fake/script", script, methods=["GET", "POST"]),
            Route("/_fake/requests", list_requests, methods=["GET"]),
            Route("/_fake/reset", reset, methods=["POST"]),
            Route("/_fake/health", health, methods=["GET"]),
            Route("/_fake/accounts", accounts, methods=["GET", "POST"]),
            Route("/_fake/lookups", list_lookups, methods=["GET"]),
            Route("/_fake/wabas", wabas, methods=["GET", "POST"]),
            Route("/{version}/{waba_id}/message_templates", message_templates, methods=["GET"]),
            Route("/{version}/{waba_id}/phone_numbers", phone_numbers, methods=["GET"]),
            *media_routes(state.media),
            Route("/{version}/{account_id}/messages", messages, methods=["POST"]),
            Route("/{version}/{account_id}", lookup, methods=["GET"]),
        ]
    )
    app.state.fake = state
    return app
