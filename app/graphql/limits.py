"""What one caller may ask of the API: document limits, cost, page sizes, request rates.

Chosen limits: depth 10 (the deepest useful query, conversations → edges → node → lead →
conversation → channel → agent, is 8), 30 aliases, 2,000 tokens, a cost of GRAPHQL_MAX_COST
(cost.py), 100 rows per page (see pagination.py), 100 operations per websocket (see app.py),
GRAPHQL_RATE_PER_MINUTE operations per tenant (default 600; all its keys together) and
GRAPHQL_ANON_RATE_PER_MINUTE per client address without a valid key, counted in Redis so every
API process shares one budget (ratelimit.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from app.errors import DomainError, present
from app.graphql import ratelimit
from app.graphql.context import Context
from app.graphql.cost import operation_cost
from app.graphql.errors import ErrorCodes, coded_error

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
MAX_OPERATIONS_PER_SOCKET = 100
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


class QueryCost(SchemaExtension):
    """Refuses an operation whose cost (cost.py) is over GRAPHQL_MAX_COST, before it runs.

    Computed here rather than as a validation rule: page sizes may come from variables, and
    validation is cached per document, whatever the variables.
    """

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        ctx = ec.context
        if isinstance(ctx, Context) and ec.graphql_document is not None:
            cost = operation_cost(ec.schema._schema, ec.graphql_document, ec.operation_name,
                                  ec.variables)
            limit = ctx.rt.settings.graphql_max_cost
            if cost > limit:
                raise coded_error(
                    f"query too complex: it may resolve {cost} fields, at most {limit} are "
                    "allowed; ask for smaller pages (first/last) or fewer nested lists",
                    QUERY_TOO_COMPLEX, cost=cost, maxCost=limit,
                )
        yield


class RateLimit(SchemaExtension):
    """A fixed one-minute window per tenant, or per client address for callers without a
    valid key, shared by all API processes through Redis (ratelimit.py)."""

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context):
            try:
                principal = await ctx.principal()
            except DomainError:  # no key, a bad one, or an address over its budget
                principal = None
            settings = ctx.rt.settings
            if principal is None:
                identity = ratelimit.address_identity(ctx.client_address)
                limit, per = settings.graphql_anon_rate_per_minute, "per address without a valid API key"
            else:
                identity = ratelimit.tenant_identity(principal.tenant_id)
                limit, per = settings.graphql_rate_per_minute, "per tenant"
            count, retry_after = await ratelimit.hit(ctx.rt.redis, identity)
            if count > limit:
                if isinstance(ctx.response, Response):
                    ctx.response.status_code = 429
                    ctx.response.headers["Retry-After"] = str(retry_after)
                raise coded_error(
                    f"rate limit exceeded: {limit} operations per minute {per}; "
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


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def _validate(schema: GraphQLSchema, document: DocumentNode,
              rules: tuple[type[ASTValidationRule], ...], hide_suggestions: bool) -> list[GraphQLError]:
    return validate(schema, document, (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
                    hide_suggestions=hide_suggestions)


class ValidationCache(SchemaExtension):
    """Validation, cached per document and rules (strawberry's own ValidationCache, plus:
    production leaves out "Did you mean ...?" suggestions, which would spell out the schema
    to anyone, key or not)."""

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        ctx = ec.context
        hide = isinstance(ctx, Context) and ctx.rt.settings.is_production
        document = present(ec.graphql_document, "parsed document")
        ec.pre_execution_errors = _validate(ec.schema._schema, document,
                                            tuple(ec.validation_rules), hide)
        yield


# Factories: strawberry makes fresh extension instances per operation from these. The caches
# come after the limits, which set the parse options and rules they are keyed by. The cost is
# checked before the rate is counted: a refused operation spends no budget and no Redis call.
EXTENSIONS = [ErrorCodes, _tokens, IntrospectionGate, _limits, ParserCache, ValidationCache,
              QueryCost, RateLimit]
