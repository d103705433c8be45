"""Graph API error answers to what happens next: retry, re-auth, window closed, or give up."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.channels.adapters.graph import error_from_response


def _error(status: int, **error: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": error})


@pytest.mark.parametrize(("response", "kind", "code"), [
    # WhatsApp's 24-hour window, and Instagram's two ways of saying the same.
    (_error(400, code=131047, message="Re-engagement message"), "window_closed", "131047"),
    (_error(400, code=10, error_subcode=2534022, message="(#10) denied"), "window_closed", "10"),
    (_error(400, code=10, message="This message is sent outside of allowed window."),
     "window_closed", "10"),
    # Expired or revoked token: the channel needs a new one.
    (_error(401, code=190, message="Error validating access token"), "reauth", "190"),
    # Meta pacing us, or a transient failure: try again.
    (_error(400, code=130429, message="Rate limit hit"), "retry", "130429"),
    (_error(400, code=131056, message="Pair rate limit"), "retry", "131056"),
    (_error(400, code=2, message="Service unavailable"), "retry", "2"),
    (_error(400, code=99999, message="odd", is_transient=True), "retry", "99999"),
    (_error(503, code=99999, message="odd"), "retry", "99999"),
    # The request itself is wrong: retrying cannot help.
    (_error(400, code=100, message="Invalid parameter"), "permanent", "100"),
    (_error(400, code=131026, message="Message undeliverable"), "permanent", "131026"),
])
def test_meta_codes_decide_the_next_step(response: httpx.Response, kind: str, code: str):
    err = error_from_response(response)
    assert (err.kind, err.code) == (kind, code)


@pytest.mark.parametrize(("status", "kind"), [(500, "retry"), (502, "retry"), (429, "retry"),
                                              (400, "permanent"), (404, "permanent")])
def test_without_a_graph_error_body_the_http_status_decides(status: int, kind: str):
    for response in (httpx.Response(status, text="<html>gateway</html>"),
                     httpx.Response(status, json=["not", "an", "object"])):
        err = error_from_response(response)
        assert (err.kind, err.code, err.title) == (kind, str(status), f"HTTP {status}")


def test_the_title_is_meta_details_then_message_and_is_bounded():
    detailed = _error(400, code=131047, message="Re-engagement message",
                      error_data={"details": "More than 24 hours have passed"})
    assert error_from_response(detailed).title == "More than 24 hours have passed"
    assert error_from_response(_error(400, code=100, message="Invalid parameter")).title == (
        "Invalid parameter")
    assert error_from_response(_error(400, code=100)).title == "error 100"
    assert len(error_from_response(_error(400, code=100, message="x" * 2000)).title) == 500


def test_a_missing_code_falls_back_to_the_http_status():
    err = error_from_response(_error(500, message="boom"))
    assert (err.kind, err.code) == ("retry", "500")
