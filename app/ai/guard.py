"""What every model call shares: the circuit breaker, timing, error mapping and token counts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai

from app.metrics import MODEL_ERRORS, MODEL_TOKENS, STAGE_SECONDS
from app.pipeline.breaker import CircuitBreaker, breaker
from app.runtime import Runtime


class ModelError(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@asynccontextmanager
async def guarded(rt: Runtime, stage: str) -> AsyncIterator[CircuitBreaker]:
    """Fail fast while the model's breaker is open; map SDK errors to ModelError and count
    them against the breaker. The caller reports success with `accept(...)`."""
    s = rt.settings
    b = breaker("model", s.breaker_failure_threshold, s.breaker_reset_s)
    b.check()
    started = time.perf_counter()
    try:
        yield b
    except openai.APIStatusError as exc:
        b.failure()
        MODEL_ERRORS.labels(f"http_{exc.status_code}").inc()
        raise ModelError("model_error", f"{exc.status_code} {exc.code or ''}") from exc
    except openai.APIError as exc:
        b.failure()
        MODEL_ERRORS.labels(type(exc).__name__).inc()
        raise ModelError("model_unreachable", type(exc).__name__) from exc
    finally:
        STAGE_SECONDS.labels(stage).observe(time.perf_counter() - started)


def accept(b: CircuitBreaker, response: Any) -> dict[str, int]:
    """Check a response that came back (a failed generation can arrive with HTTP 200) and
    count its tokens. Returns the usage."""
    # "incomplete" (e.g. max_output_tokens) may still carry usable output; "failed" does not.
    if response.status in ("failed", "cancelled") or getattr(response, "error", None):
        b.failure()
        MODEL_ERRORS.labels(f"status_{response.status}").inc()
        raise ModelError("model_failed", str(response.status))
    b.success()
    usage: dict[str, int] = {}
    if response.usage is not None:
        usage = {"input_tokens": response.usage.input_tokens or 0,
                 "output_tokens": response.usage.output_tokens or 0}
        MODEL_TOKENS.labels("input").inc(usage["input_tokens"])
        MODEL_TOKENS.labels("output").inc(usage["output_tokens"])
    return usage
