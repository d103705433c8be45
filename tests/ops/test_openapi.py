"""documentation/api/openapi.yaml against the running app: schemathesis generates requests from
the spec (valid ones and, where the spec leaves room, invalid ones), sends them to the real app
on a real port, and fails on any 5xx or any answer the spec does not describe (status code,
content type, headers, body schema).

Generated values alone would almost never get past the first check of an endpoint (a random
public id is a 404, a random signature a 401), so each case is also given, by a Hypothesis draw,
the real things a legitimate caller holds: the web chat channel's public id, a valid visitor
token, an allowed Origin, a correct webhook signature, a connected account's id. The mix keeps
the refusals covered too.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.media.links import signed_path
from tests.factories import make_world
from tests.graphql.helpers import seed_conversation
from tests.helpers import ROOT, png
from tests.live import LiveServer
from tests.meta import SECRET

SPEC = ROOT / "documentation" / "api" / "openapi.yaml"
ORIGIN = "https://shop.example"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# Per operation; about 40 s for the whole file on a 2-core machine. The webhook's nested body
# is slow to generate (~0.15 s a case), the rest are cheap.
MAX_EXAMPLES = {"POST /webhooks/meta": 60}
DEFAULT_MAX_EXAMPLES = 120

schema = schemathesis.openapi.from_path(SPEC)
# An SSE stream never ends by itself: the first complete event is enough to check the answer.
schema.config.max_stream_events = 1
OPERATIONS = {f"{op.method.upper()} {op.path}": op
              for op in (r.ok() for r in schema.get_all_operations())}


@dataclass
class Target:
    url: str
    public_id: str
    token: str
    other_token: str
    whatsapp_account: str
    instagram_account: str
    verify_token: str
    api_key: str
    # A conversation of the WhatsApp tenant, and a kept file's signed link (id, query).
    conversation_id: str = ""
    media_id: str = ""
    media_query: dict[str, str] | None = None



@pytest.fixture
async def target(live: LiveServer, runtime: Any, settings: Any) -> Target:
    wa = await make_world(runtime, credits=10_000)
    ig = await make_world(runtime, kind="instagram", credits=10_000)
    chat = await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})
    other = await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})
    async with httpx.AsyncClient(base_url=live.url, headers={"Origin": ORIGIN}) as http:
        token = (await http.post(f"/widget/{chat.account_id}/session")).json()["token"]
        other_token = (await http.post(f"/widget/{other.account_id}/session")).json()["token"]
    assert settings.meta_verify_token
    conversation_id = str(await seed_conversation(runtime, wa))
    async with httpx.AsyncClient(base_url=live.url) as http:
        upload = (await http.post(
            "/media/uploads", params={"conversationId": conversation_id}, content=png(),
            headers={"Authorization": f"Bearer {wa.api_key}", "Content-Type": "image/png"},
        )).json()
    link = urlsplit(signed_path(settings, uuid.UUID(upload["id"]), wa.tenant_id))
    return Target(live.url, chat.account_id, token, other_token, wa.account_id, ig.account_id,
                  settings.meta_verify_token, wa.api_key, conversation_id, upload["id"],
                  dict(parse_qsl(link.query)))


def _sign(raw: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def _route_to(body: Any, t: Target) -> None:
    """Point a generated webhook body's items at the connected accounts, in place."""
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        return
    for entry in body["entry"]:
        if not isinstance(entry, dict):
            continue
        if body.get("object") == "instagram":
            entry["id"] = t.instagram_account
        for change in entry.get("changes") or []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
                value["metadata"]["phone_number_id"] = t.whatsapp_account


def prepare(case: Any, t: Target, data: st.DataObject) -> dict[str, Any]:
    """Give the case what a legitimate caller would hold (by draw); the extra call arguments."""
    kwargs: dict[str, Any] = {}
    path = case.operation.path
    if path.startswith("/widget/"):
        # Biased towards what a real caller holds, so every endpoint's success path is reached
        # within a small budget; the rest keeps the refusals covered.
        if data.draw(st.sampled_from([True, True, True, False]), label="real channel"):
            case.path_parameters["public_id"] = t.public_id
        auth = data.draw(st.sampled_from(["generated", "valid", "valid", "other channel", "none"]),
                         label="authorization")
        if auth == "valid":
            case.headers["Authorization"] = f"Bearer {t.token}"
        elif auth == "other channel":
            case.headers["Authorization"] = f"Bearer {t.other_token}"
        elif auth == "none":
            case.headers.pop("Authorization", None)
        origin = data.draw(st.sampled_from(["generated", ORIGIN, ORIGIN, "none"]), label="origin")
        if origin == "none":
            case.headers.pop("Origin", None)
        elif origin == ORIGIN:
            case.headers["Origin"] = ORIGIN
    elif path == "/media/uploads":
        if data.draw(st.sampled_from([True, True, True, False]), label="tenant key"):
            case.headers["Authorization"] = f"Bearer {t.api_key}"
        if data.draw(st.sampled_from([True, True, False]), label="real conversation"):
            case.query = {**(case.query or {}), "conversationId": t.conversation_id}
        if data.draw(st.sampled_from([True, True, False]), label="real image"):
            case.headers["Content-Type"] = "image/png"
            kwargs["data"] = png()
    elif path == "/media/{attachment_id}":
        if data.draw(st.sampled_from([True, True, False]), label="signed link"):
            case.path_parameters["attachment_id"] = t.media_id
            case.query = dict(t.media_query or {})
    elif path.startswith("/export/"):
        if data.draw(st.sampled_from([True, True, True, False]), label="tenant key"):
            case.headers["Authorization"] = f"Bearer {t.api_key}"
    elif path == "/webhooks/meta" and case.method.upper() == "GET":
        if data.draw(st.booleans(), label="valid handshake"):
            case.query = {**(case.query or {}), "hub.mode": "subscribe",
                          "hub.verify_token": t.verify_token}
    elif path == "/webhooks/meta" and data.draw(st.sampled_from([True, True, True, False]),
                                                label="signed"):
        body = case.body
        if isinstance(body, (dict, list)):
            if data.draw(st.sampled_from([True, True, True, False]), label="connected account"):
                _route_to(body, t)
            raw = json.dumps(body).encode()
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = str(body).encode()
        case.headers["X-Hub-Signature-256"] = _sign(raw)
        case.headers["Content-Type"] = "application/json"
        # The exact bytes that were signed; requests sends `data` in place of the case's json.
        kwargs["data"] = raw
    return kwargs


def _modes(op: Any) -> list[GenerationMode]:
    # Invalid requests exist only where the spec constrains something the caller sends; these
    # three take nothing but an unconstrained Accept header.
    if op.path in ("/healthz", "/readyz", "/metrics"):
        return [GenerationMode.POSITIVE]
    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def run_operation(op: Any, t: Target, max_examples: int) -> list[tuple[int, Any]]:
    answers: list[tuple[int, Any]] = []
    strategy = st.one_of(*(op.as_strategy(generation_mode=m) for m in _modes(op)))

    @hsettings(max_examples=max_examples, deadline=None, database=None, print_blob=True,
               suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        kwargs = prepare(case, t, data)
        response = case.call_and_validate(base_url=t.url, checks=CHECKS, timeout=10, **kwargs)
        is_json = response.headers.get("content-type", [""])[0].startswith("application/json")
        answers.append((response.status_code, response.json() if is_json else None))

    check()
    return answers


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_operation_conforms_to_the_spec(name: str, target: Target) -> None:
    answers = await asyncio.to_thread(run_operation, OPERATIONS[name], target,
                                      MAX_EXAMPLES.get(name, DEFAULT_MAX_EXAMPLES))
    statuses = sorted({status for status, _ in answers})
    print(f"{name}: {len(answers)} requests, statuses {statuses}")
    # The draws above must reach each endpoint's success path, not only its refusals...
    assert any(status < 300 for status in statuses), f"{name}: only {statuses}"
    if name == "POST /webhooks/meta":
        # ...and for the webhook, the database write behind it.
        stored = sum(body.get("stored", 0) for status, body in answers if status == 200)
        assert stored > 0, "no generated webhook reached a connected account"


def test_every_route_of_the_app_is_in_the_spec(settings: Any) -> None:
    """A new endpoint must be documented: every non-GraphQL, non-page route of the app."""
    from starlette.routing import Route

    from app.main import create_app

    app = create_app(settings)
    undocumented_by_design = {"/graphql", "/widget.js", "/widget.css", "/console", "/demo"}
    spec_paths = {p.replace("{rest}", "{rest:path}") for p in schema.raw_schema["paths"]}
    spec_ops = {(m.upper(), p.replace("{rest}", "{rest:path}"))
                for p, item in schema.raw_schema["paths"].items() for m in item
                if m in ("get", "post", "put", "patch", "delete", "options")}
    for route in app.routes:
        if not isinstance(route, Route) or route.path in undocumented_by_design:
            continue
        assert route.path in spec_paths, f"{route.path} is not in openapi.yaml"
        for method in (route.methods or set()) - {"HEAD"}:
            assert (method, route.path) in spec_ops, f"{method} {route.path} is not in openapi.yaml"


async def test_the_documented_webhook_example_is_stored_once(target: Target) -> None:
    """The spec's own example, signed and sent to a connected number: stored, then a duplicate."""
    op = OPERATIONS["POST /webhooks/meta"]
    example = copy.deepcopy(schema.raw_schema["paths"]["/webhooks/meta"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]["whatsappText"]["value"])
    _route_to(example, target)
    raw = json.dumps(example).encode()

    def send() -> Any:
        case = op.Case(body=example, media_type="application/json",
                       headers={"X-Hub-Signature-256": _sign(raw), "Content-Type": "application/json"})
        return case.call_and_validate(base_url=target.url, checks=CHECKS, timeout=10, data=raw)

    first = await asyncio.to_thread(send)
    assert first.status_code == 200 and first.json()["stored"] == 1
    again = await asyncio.to_thread(send)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
