"""Every GraphQL error leaves with a stable `extensions.code`; unexpected ones are masked.

A `DomainError` raised anywhere below a resolver keeps its message and code. Errors the
GraphQL layer itself produces (parse, validation, limits) keep their message and get a code.
Anything else is an internal error: its message may leak internals, so the client gets a
generic message while strawberry's logger records the original.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors

from app.errors import DomainError

INTERNAL = "INTERNAL_SERVER_ERROR"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def coded_error(message: str, code: str, **extra: Any) -> GraphQLError:
    """An error that is expected and safe to show, raised outside any resolver."""
    return GraphQLError(message, extensions={"code": code, **extra})


def is_expected(error: GraphQLError) -> bool:
    """A client's mistake or a business rule, not a defect: nothing for the server log."""
    original = error.original_error
    return original is None or isinstance(original, DomainError | GraphQLError)


def _always(_: GraphQLError) -> bool:
    return True


class ErrorCodes(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_always, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            return GraphQLError(
                original.message, nodes=error.nodes, source=error.source,
                positions=error.positions, path=error.path,
                extensions={**(error.extensions or {}), "code": original.code},
            )
        if original is None or isinstance(original, GraphQLError):
            if not (error.extensions or {}).get("code"):
                # Mutated in place: the websocket transport inspects the error's class.
                code = PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else VALIDATION_FAILED
                error.extensions = {**(error.extensions or {}), "code": code}
            return error
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked
