"""The executor behind the schema: graphql-core's, with a short way for the simplest fields.

A dashboard page is ~1,000 fields (50 conversations, each with its channel, contact and last
message), nearly all of them an attribute read. For each, graphql-core makes a resolve-info
tuple, calls strawberry's resolver wrapper (which, for a resolver of ours, also builds
strawberry's Info and parses arguments), checks the value for an awaitable and walks its
generic completion (non-null, list, leaf, abstract, object) before it coerces a scalar: about
5 µs a field, most of a page's CPU.

The short way, for a field without arguments, field extensions or permission classes that is
either a plain attribute (strawberry's default `getattr`) or a synchronous resolver that takes
only `self`: read the value directly; a scalar or enum is coerced in place (no info, no
path); anything else (objects, lists, awaitables, nulls) goes through graphql-core's own
completion. What the short way cannot settle (a null where none is allowed, an error, a value
that is not a plain scalar) takes the standard path, so errors, their paths and null
propagation are graphql-core's own. With a schema extension that wraps resolvers (a `resolve`
hook) every field takes the standard path.
"""

from __future__ import annotations

import enum
import operator
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, cast

from graphql import (
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import AwaitableOrValue, Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# Values that are never awaitable and that scalars coerce without surprises (enums are
# checked with isinstance).
_PLAIN_VALUES = frozenset({str, int, float, bool, datetime, date, time, uuid.UUID, Decimal})


class _Plan(NamedTuple):
    read: Callable[[Any], Any]  # source -> value
    leaf: GraphQLLeafType | None  # the scalar or enum type, None for other types
    # An object type without an is_type_of check: a value read is completed by executing
    # its sub-selection directly.
    obj: GraphQLObjectType | None
    nullable: bool


# Decided once per process for each field. Keyed by id(field): graphql fields compare by
# value and are not hashable; the entry holds the field, so its id is not reused meanwhile.
_plans: dict[int, tuple[GraphQLField, _Plan | None]] = {}


def _plan(field: GraphQLField) -> _Plan | None:
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (
        not isinstance(definition, StrawberryField)
        or field.args
        or definition.extensions
        or definition.permission_classes
    ):
        return None
    read: Callable[[Any], Any]
    resolver = definition.base_resolver
    if resolver is None:
        # strawberry marks the resolver it makes for a field without one of ours.
        if not getattr(field.resolve, "_is_default", False) or definition.default_resolver is not getattr:
            return None
        read = operator.attrgetter(definition.python_name)
    else:
        only_self = (
            resolver.self_parameter is not None
            and len(resolver.signature.parameters) == 1
            and not resolver.arguments
        )
        func = resolver.wrapped_func
        if resolver.is_async or not only_self or isinstance(func, staticmethod | classmethod):
            return None
        read = cast("Callable[[Any], Any]", func)
    nullable = not isinstance(field.type, GraphQLNonNull)
    named = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    leaf = named if isinstance(named, GraphQLLeafType) and is_leaf_type(named) else None
    obj = named if isinstance(named, GraphQLObjectType) and named.is_type_of is None else None
    return _Plan(read, leaf, obj, nullable)


def _plan_of(field: GraphQLField) -> _Plan | None:
    entry = _plans.get(id(field))
    if entry is None or entry[0] is not field:
        entry = (field, _plan(field))
        _plans[id(field)] = entry
    return entry[1]


_Step = tuple[str, FieldDetailsList, GraphQLField | None, _Plan | None]


class Executor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._short = manager is None or not manager.middlewares
        # Each selection's fields with their plans, looked up once per operation: graphql-core
        # collects a selection once and hands the same grouped field set to every object of
        # a list, so 50 nodes share one list of steps. Keyed by id; the entry holds the set.
        self._steps: dict[int, tuple[GroupedFieldSet, list[_Step]]] = {}

    def _steps_of(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[_Step]:
        entry = self._steps.get(id(grouped_field_set))
        if entry is None or entry[0] is not grouped_field_set:
            fields = parent_type.fields
            steps: list[_Step] = []
            for response_name, field_details_list in grouped_field_set.items():
                field = fields.get(field_details_list[0].node.name.value)
                steps.append((
                    response_name, field_details_list, field,
                    _plan_of(field) if field is not None else None,
                ))
            entry = (grouped_field_set, steps)
            self._steps[id(grouped_field_set)] = entry
        return entry[1]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's execute_fields, with the short way of the module's docstring."""
        if not self._short:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, field, plan in self._steps_of(
                parent_type, grouped_field_set
            ):
                if plan is None or field is None:
                    result = self.execute_field(
                        parent_type, source_value, field_details_list,
                        Path(path, response_name, parent_type.name), position_context,
                    )
                else:
                    try:
                        value = plan.read(source_value)
                    except Exception:
                        value = Undefined  # the standard path reports it
                    if value is None and plan.nullable:
                        results[response_name] = None
                        continue
                    if plan.leaf is not None and (
                        value.__class__ in _PLAIN_VALUES or isinstance(value, enum.Enum)
                    ):
                        coerced = _coerce(plan.leaf, value)
                        if coerced is not None:
                            results[response_name] = coerced
                            continue
                    field_path = Path(path, response_name, parent_type.name)
                    if plan.obj is not None and value is not None and not is_awaitable(value):
                        result = self._complete_object(
                            plan.obj, field, field_details_list, field_path, value,
                            position_context,
                        )
                    elif value is Undefined:
                        result = self.execute_field(
                            parent_type, source_value, field_details_list, field_path,
                            position_context,
                        )
                    else:
                        result = self._complete(
                            parent_type, field, field_details_list, field_path, value,
                            position_context,
                        )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise

        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                name = awaitable_fields[0]
                results[name] = await results[name]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _complete_object(
        self,
        return_type: GraphQLObjectType,
        field: GraphQLField,
        field_details_list: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """complete_value for an object read already: its sub-selection, with the field's own
        error handling (no resolve-info tuple, no completion walk)."""
        try:
            completed = self.collect_and_execute_subfields(
                return_type, field_details_list, path, value, position_context
            )
            if self.is_awaitable(completed):
                return self._await_completed(completed, field, field_details_list, path)
            return completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.type, field_details_list, path)
            return None

    def _complete(
        self,
        parent_type: GraphQLObjectType,
        field: GraphQLField,
        field_details_list: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """What execute_field does after calling the resolver, for a value read already."""
        return_type = field.type
        info = self.build_resolve_info(field, to_nodes(field_details_list), parent_type, path)
        try:
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, value, position_context
                )
            completed = self.complete_value(
                return_type, field_details_list, info, path, value, position_context
            )
            if self.is_awaitable(completed):
                return self._await_completed(completed, field, field_details_list, path)
            return completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    async def _await_completed(
        self,
        completed: Awaitable[Any],
        field: GraphQLField,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.type, field_details_list, path)
            return None


# An enum member's output name per (enum type, member): strawberry's enum coercion looks it
# up by scanning the enum's values on every call. Small: one entry per member in use.
_enum_names: dict[tuple[int, enum.Enum], tuple[GraphQLLeafType, Any]] = {}


def _coerce(leaf: GraphQLLeafType, value: Any) -> Any:
    """The coerced value, or None to let the standard path report what is wrong with it."""
    if value.__class__ is str and (leaf is GraphQLString or leaf is GraphQLID):
        return value  # what their coercion returns for a str
    if isinstance(value, enum.Enum):
        known = _enum_names.get((id(leaf), value))
        if known is not None and known[0] is leaf:
            return known[1]
    try:
        coerced = leaf.coerce_output_value(value)
    except Exception:
        return None
    if coerced is Undefined:
        return None
    if isinstance(value, enum.Enum):
        _enum_names[id(leaf), value] = (leaf, coerced)
    return coerced
