"""The schema, assembled from each domain's `graphql.py`.

`mca export-schema` prints `schema.as_str()`; the committed schema.graphql is checked against
it in tests/graphql/test_schema_file.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.tools import merge_types

from app.agents.graphql import AgentMutation, AgentQuery
from app.channels.graphql import ChannelMutation, ChannelQuery
from app.contacts.graphql import ContactMutation, ContactQuery
from app.conversations.graphql import ConversationMutation, ConversationQuery
from app.conversations.label_graphql import ConversationLabelMutation
from app.credits.graphql import CreditQuery
from app.graphql.context import Context
from app.graphql.errors import is_expected
from app.graphql.executor import Executor as FastExecutor
from app.graphql.hygiene import RefuseNul
from app.graphql.limits import EXTENSIONS
from app.graphql.subscriptions import Subscription
from app.inbox.graphql import InboxMutation, InboxQuery
from app.integrations.graphql import IntegrationMutation, IntegrationQuery
from app.labels.graphql import LabelMutation, LabelQuery
from app.leads.graphql import LeadQuery
from app.notes.graphql import NoteMutation
from app.templates.graphql import TemplateMutation, TemplateQuery
from app.tenants.graphql import TenantMutation, TenantQuery
from app.usage.graphql import UsageQuery

Query = merge_types(
    "Query",
    (TenantQuery, ChannelQuery, AgentQuery, ConversationQuery, CreditQuery, LeadQuery,
     IntegrationQuery, UsageQuery, TemplateQuery, LabelQuery, ContactQuery, InboxQuery),
)
Mutation = merge_types(
    "Mutation",
    (ChannelMutation, AgentMutation, ConversationMutation, TenantMutation,
     IntegrationMutation, TemplateMutation, LabelMutation, ConversationLabelMutation, NoteMutation,
     ContactMutation, InboxMutation),
)


class Executor(FastExecutor):
    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        # Variable values are checked here, not in validation: production leaves the "Did you
        # mean ...?" out of those errors too (see limits.ValidationCache).
        context = args[3] if len(args) > 3 else kwargs.get("context_value")
        if isinstance(context, Context) and context.rt.settings.is_production:
            kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Validation failures and domain errors are answered to the client; logging each one
        # at ERROR would bury the real defects.
        super().process_errors([e for e in errors if not is_expected(e)], execution_context)


def _parse_datetime(value: Any) -> datetime:
    """The scalar's own parsing, then a time Postgres can hold: one that exists only in its own
    zone (year 1 east of Greenwich) is refused as invalid input, not failed in the driver."""
    parsed = DateTimeDefinition.parse_value(value)  # type: ignore[misc]
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"DateTime out of range: {value!r}") from None
    return cast(datetime, parsed)


# Every time the API returns carries its UTC offset (timestamptz), i.e. RFC 3339.
DateTime = dataclasses.replace(
    DateTimeDefinition,
    parse_value=_parse_datetime,
    description="A date and time with its UTC offset (RFC 3339), e.g. 2026-12-02T16:45:00+00:00.",
    specified_by_url="https://scalars.graphql.org/andimarek/date-time",
)

schema = Schema(
    query=Query, mutation=Mutation, subscription=Subscription,
    extensions=[*EXTENSIONS, RefuseNul], execution_context_class=Executor,
    scalar_overrides={datetime: DateTime},
)
