"""What one caller may ask of the API: document limits, page sizes, a per-key request rate.

Chosen limits: depth 10 (the deepest useful query, conversations → edges → node → lead →
conversation → channel → agent, is 8), 30 aliases, 2,000 tokens, 100 rows per page (see
pagination.py), 100 operations per websocket (see app.py), and
GRAPHQL_RATE_PER_MINUTE operations per API key (default 600), counted in Redis so every API
process shares one budget.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache

from graphql import GraphQLError, parse
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from app.graphql.context import Context
from app.graphql.errors import ErrorCodes, coded_error

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
MAX_OPERATIONS_PER_SOCKET = 100
RATE_WINDOW_S = 60


def rate_key(identity: str, window: int) -> str:
    return f"mca:rl:gql:{identity}:{window}"


class RateLimit(SchemaExtension):
    """A fixed one-minute window per API key, shared by all API processes through Redis."""

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and (identity := ctx.rate_key) is not None:
            now = time.time()
            window = int(now // RATE_WINDOW_S)
            key = rate_key(identity, window)
            async with ctx.rt.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, RATE_WINDOW_S * 2)
                count, _ = await pipe.execute()
            limit = ctx.rt.settings.graphql_rate_per_minute
            if int(count) > limit:
                retry_after = max(1, int((window + 1) * RATE_WINDOW_S - now))
                if isinstance(ctx.response, Response):
                    ctx.response.status_code = 429
                    ctx.response.headers["Retry-After"] = str(retry_after)
                raise coded_error(
                    f"rate limit exceeded: {limit} operations per minute per API key; "
                    f"retry in {retry_after}s", "RATE_LIMITED", retryAfter=retry_after,
                )
        yield


class IntrospectionGate(SchemaExtension):
    """Production hides the schema from strangers; development keeps it for GraphiQL."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.rt.settings.is_production:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules, NoSchemaIntrospectionCustomRule,
            )
        yield


# The limiters' validation rules, built once: a limiter made per operation would bring new
# rule classes each time, and validation could never be cached.
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]
# A dashboard sends the same few documents over and over: each is parsed and validated once
# per process (per set of rules), not on every request.
DOCUMENT_CACHE_SIZE = 512


def _limits() -> AddValidationRules:
    return AddValidationRules(_LIMIT_RULES)


def _tokens() -> MaxTokensLimiter:
    return MaxTokensLimiter(max_token_count=MAX_TOKENS)


_cached_parse = lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(parse)


class ParserCache(SchemaExtension):
    """strawberry's ParserCache raises a bad document's error from its hook, where it skips
    the error handling of a parse; this one leaves a bad document to strawberry's own parse."""

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.query:
            with contextlib.suppress(GraphQLError):
                ctx.graphql_document = _cached_parse(ctx.query, **ctx.parse_options)
        yield


def _validation_cache() -> ValidationCache:
    return ValidationCache(maxsize=DOCUMENT_CACHE_SIZE)


# Factories: strawberry makes fresh extension instances per operation from these. The caches
# come after the limits, which set the parse options and rules they are keyed by.
EXTENSIONS = [ErrorCodes, _tokens, IntrospectionGate, _limits, ParserCache, _validation_cache,
              RateLimit]
