"""What one caller may ask of the API: document limits, page sizes, a per-key request rate.

Chosen limits: depth 10 (the deepest useful query, conversations → edges → node → lead →
conversation → channel → agent, is 8), 30 aliases, 2,000 tokens, 100 rows per page (see
pagination.py), 100 operations per websocket (see app.py), and
GRAPHQL_RATE_PER_MINUTE operations per API key (default 600), counted in Redis so every API
process shares one budget.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
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


def _depth() -> QueryDepthLimiter:
    return QueryDepthLimiter(max_depth=MAX_DEPTH)


def _aliases() -> MaxAliasesLimiter:
    return MaxAliasesLimiter(max_alias_count=MAX_ALIASES)


def _tokens() -> MaxTokensLimiter:
    return MaxTokensLimiter(max_token_count=MAX_TOKENS)


# Factories: strawberry makes fresh extension instances per operation from these.
EXTENSIONS = [ErrorCodes, _tokens, IntrospectionGate, _depth, _aliases, RateLimit]
