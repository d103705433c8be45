"""Who may talk to us: Meta's webhook signature, the widget's visitor tokens and origins."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from cryptography.fernet import Fernet

from app.config import Settings
from app.crypto import verify_signature
from app.webchat.guard import (
    WidgetError,
    check_token,
    issue_token,
    new_visitor_id,
    origin_allowed,
)

SECRET = "app-secret"


def visitor_of(settings: Settings, token: str, channel: uuid.UUID) -> str | None:
    """The visitor a token grants on a channel, or None when it is refused."""
    try:
        return check_token(settings, token, channel).visitor
    except WidgetError:
        return None
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def _header(raw: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_meta_signature_over_the_raw_bytes():
    assert verify_signature(BODY, _header(BODY), SECRET)
    assert verify_signature(BODY, _header(BODY).upper().replace("SHA256=", "sha256="), SECRET)
    assert not verify_signature(BODY, _header(BODY, "another-secret"), SECRET)
    assert not verify_signature(BODY + b" ", _header(BODY), SECRET)
    assert not verify_signature(BODY, _header(BODY).removeprefix("sha256="), SECRET)
    assert not verify_signature(BODY, None, SECRET)
    assert not verify_signature(BODY, "", SECRET)


def _settings() -> Settings:
    return Settings(_env_file=None, app_encryption_key=Fernet.generate_key().decode())  # type: ignore[call-arg]


def test_a_visitor_token_names_its_visitor_on_its_own_channel_only():
    settings, channel, visitor = _settings(), uuid.uuid4(), new_visitor_id()
    token = issue_token(settings, channel, visitor)
    assert visitor_of(settings, token, channel) == visitor
    assert visitor_of(settings, token, uuid.uuid4()) is None
    # Another deployment's key (or a rotated one) signs differently.
    assert visitor_of(_settings(), token, channel) is None


def test_a_tampered_or_malformed_token_is_refused():
    settings, channel = _settings(), uuid.uuid4()
    version, body, mac = issue_token(settings, channel, new_visitor_id()).split(".")
    other_body = issue_token(settings, channel, new_visitor_id()).split(".")[1]
    for token in (f"{version}.{other_body}.{mac}", f"wv1.{body}.{mac}", f"{version}.{body}",
                  f"{version}.{body}.{mac}.extra", f"{version}.{body}.{'0' * len(mac)}",
                  f"{version}.{body + 'x' * 300}.{mac}", ""):
        assert visitor_of(settings, token, channel) is None, token


def test_origins_must_be_listed_exactly_but_case_and_trailing_slash_do_not_matter():
    channel = {"allowed_origins": ["https://shop.example", "http://localhost:3000/"]}
    assert origin_allowed("https://shop.example", channel)
    assert origin_allowed("HTTPS://Shop.Example/", channel)
    assert origin_allowed("http://localhost:3000", channel)
    assert not origin_allowed("https://shop.example:8443", channel)
    assert not origin_allowed("http://shop.example", channel)
    assert not origin_allowed("https://evil.example", channel)
    assert not origin_allowed("https://shop.example", {"allowed_origins": "https://shop.example"})
    assert not origin_allowed("https://shop.example", {})
    # No Origin: not a cross-site browser request, which is all CORS can police.
    assert origin_allowed(None, {})
