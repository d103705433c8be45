"""Expected domain errors, each with a stable code that GraphQL and REST both expose."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    code = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "NOT_FOUND"

    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")


class ValidationFailed(DomainError):
    code = "VALIDATION"


class BadUserInput(ValidationFailed):
    """A value that is malformed or out of its allowed range; the message names the field."""

    code = "BAD_USER_INPUT"


class ChannelVerificationFailed(DomainError):
    """Meta did not confirm that the access token owns the provider account."""

    code = "CHANNEL_VERIFICATION_FAILED"


class InsufficientCredits(DomainError):
    code = "INSUFFICIENT_CREDITS"


class Conflict(DomainError):
    code = "CONFLICT"


class WindowClosed(DomainError):
    code = "WINDOW_CLOSED"


class ProviderUnavailable(DomainError):
    """Meta could not be asked, or refused a read (e.g. the template list); nothing changed."""

    code = "PROVIDER_ERROR"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class RateLimited(DomainError):
    code = "RATE_LIMITED"


class LimitReached(DomainError):
    """A per-tenant quota (API keys, websockets) is used up; freeing one allows another."""

    code = "LIMIT_REACHED"


class AgentPromptImmutable(DomainError):
    """What an agent tells the model (its prompt, model, instructions) is fixed: the
    conversations it holds were built on it. A new prompt is a new agent."""

    code = "AGENT_PROMPT_IMMUTABLE"


class MissingRow(RuntimeError):
    """A row the data model guarantees is gone (a bug or a hand edit, never a user's doing):
    an internal error, unlike the expected errors above."""


def present(row: T | None, what: str) -> T:
    """`row`, which the data model guarantees exists (e.g. a soft-deleted parent's row)."""
    if row is None:
        raise MissingRow(f"{what} is missing")
    return row
