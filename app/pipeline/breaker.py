"""A circuit breaker per dependency (the model, the Graph API), per process.

After `threshold` consecutive failures it opens and fails fast for `reset_s`; then one trial
call is let through (half-open): success closes it, failure opens it again.
"""

from __future__ import annotations

import time

from app.metrics import BREAKER_OPEN


class BreakerOpen(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name} circuit breaker is open")
        self.name = name


class CircuitBreaker:
    def __init__(self, name: str, threshold: int, reset_s: float) -> None:
        self.name = name
        # Metrics name the dependency ("graph"), not the channel a breaker guards.
        self.dependency = name.split(":", 1)[0]
        self.threshold = threshold
        self.reset_s = reset_s
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.reset_s else "open"

    def check(self) -> None:
        if self.state == "open":
            raise BreakerOpen(self.name)

    def success(self) -> None:
        self.failures = 0
        if self.opened_at is not None:
            self.opened_at = None
            BREAKER_OPEN.labels(self.dependency).dec()

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.state == "half_open":
            if self.opened_at is None:
                BREAKER_OPEN.labels(self.dependency).inc()
            self.opened_at = time.monotonic()


_breakers: dict[str, CircuitBreaker] = {}


def breaker(name: str, threshold: int, reset_s: float) -> CircuitBreaker:
    b = _breakers.get(name)
    if b is None or b.threshold != threshold or b.reset_s != reset_s:
        b = _breakers[name] = CircuitBreaker(name, threshold, reset_s)
    return b


def reset_all() -> None:
    """Forget every breaker's state (tests; a fresh process starts closed anyway)."""
    for dependency in {b.dependency for b in _breakers.values()}:
        BREAKER_OPEN.labels(dependency).set(0)
    _breakers.clear()
