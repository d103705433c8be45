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

The compiled way, one step further, for a selection whose fields are all such reads, at every
depth (objects, lists of objects or leaves, `__typename`): the selection is compiled once per
operation into a tree of (name, read, coercion, sub-selection) and a list of 50 nodes is
answered by walking it, with no graphql-core completion, path or resolve info per field or
per object. Leaves are coerced by a function chosen once per type (a str for String or ID, an
int within Int's 32 bits, a finite float, a bool, a datetime's isoformat for DateTime; an
enum's name as the short way keeps it); any value it cannot settle, a null where none is allowed,
a read that raises or returns an awaitable (closed, unawaited) abandons the walk, and the
same object is answered by the short or standard way, so errors and their paths stay
graphql-core's own.
"""

from __future__ import annotations

import enum
import math
import operator
import uuid
from collections.abc import Awaitable, Callable, Generator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, cast

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import AwaitableOrValue, Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.types.base_scalars import isoformat
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


class _Fallback(Exception):
    """The compiled way met what only the standard path settles: start that object again."""


_LEAF, _OBJECT, _LIST = 0, 1, 2


class _Compiled(NamedTuple):
    """One field of a selection run the compiled way (see Executor._tree_of)."""

    name: str
    read: Callable[[Any], Any]
    kind: int  # _LEAF, _OBJECT, or _LIST (of objects when `tree` is set, else of leaves)
    nullable: bool
    item_nullable: bool
    coerce: Callable[[Any], Any]  # a leaf's coercion (_coercer); raises _Fallback
    # String or ID: a str is its own output, checked in the walk itself (most leaves are str:
    # one call fewer each).
    text: bool
    # An object's (or a list item's) selection, compiled.
    tree: tuple[_Compiled, ...] | None


# Classes seen whose instances are never awaitable (no __await__, not a coroutine or generator).
_settled_classes: set[type] = set()


def _not_awaitable(value: Any) -> bool:
    cls = value.__class__
    if cls in _settled_classes:
        return True
    if hasattr(cls, "__await__") or isinstance(value, Awaitable | Generator):
        return False
    _settled_classes.add(cls)
    return True


def _drop(value: Any) -> None:
    """An awaitable read by the compiled way and not used: closed, so it does not warn (the
    standard path reads the field again)."""
    if not _not_awaitable(value):
        close = getattr(value, "close", None)
        if callable(close):
            close()


class Executor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._short = manager is None or not manager.middlewares
        # Each selection's fields with their plans, looked up once per operation: graphql-core
        # collects a selection once and hands the same grouped field set to every object of
        # a list, so 50 nodes share one list of steps. Keyed by id; the entry holds the set.
        self._steps: dict[int, tuple[GroupedFieldSet, list[_Step]]] = {}
        # The same, compiled whole (None: a selection the compiled way cannot run).
        self._trees: dict[int, tuple[GroupedFieldSet, tuple[_Compiled, ...] | None]] = {}

    def _tree_of(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> tuple[_Compiled, ...] | None:
        """A selection compiled whole, down to its leaves: every field in it, at every depth,
        is one the short way reads (module docstring), `__typename`, or an object or list of
        objects or leaves made of such fields, with no @defer. One per selection per
        operation, like graphql-core's collected subfields it is built from."""
        entry = self._trees.get(id(grouped_field_set))
        if entry is not None and entry[0] is grouped_field_set:
            return entry[1]
        tree = self._compile(parent_type, grouped_field_set)
        self._trees[id(grouped_field_set)] = (grouped_field_set, tree)
        return tree

    def _compile(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> tuple[_Compiled, ...] | None:
        steps: list[_Compiled] = []
        fields = parent_type.fields
        for response_name, field_details_list in grouped_field_set.items():
            field_name = field_details_list[0].node.name.value
            if field_name == "__typename":
                steps.append(_Compiled(response_name, _constant(parent_type.name), _LEAF,
                                       False, False, _coercer(GraphQLString), True, None))
                continue
            field = fields.get(field_name)
            plan = _plan_of(field) if field is not None else None
            if field is None or plan is None:
                return None
            nullable = not isinstance(field.type, GraphQLNonNull)
            named = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            kind, item_nullable = _OBJECT, False
            if isinstance(named, GraphQLList):
                kind = _LIST
                item_nullable = not isinstance(named.of_type, GraphQLNonNull)
                named = named.of_type.of_type if not item_nullable else named.of_type
            if isinstance(named, GraphQLLeafType) and is_leaf_type(named):
                steps.append(_Compiled(
                    response_name, plan.read, _LEAF if kind == _OBJECT else _LIST, nullable,
                    item_nullable, _coercer(named), named is GraphQLString or named is GraphQLID,
                    None,
                ))
                continue
            if not isinstance(named, GraphQLObjectType):
                return None  # an interface, a union, a list of lists
            if named.is_type_of is not None:
                return None  # a check of the type's own: the standard path runs it
            grouped, defer_usages, *_ = self.collect_subfields(named, field_details_list)
            tree = self._tree_of(named, grouped) if not defer_usages else None
            if tree is None:
                return None
            steps.append(_Compiled(response_name, plan.read, kind, nullable, item_nullable,
                                   _not_a_leaf, False, tree))
        return tuple(steps)

    def _run(self, tree: tuple[_Compiled, ...], source: Any) -> dict[str, Any]:
        """A selection's result, the compiled way; _Fallback for anything else."""
        out: dict[str, Any] = {}
        for name, read, kind, nullable, item_nullable, coerce, text, sub in tree:
            try:
                value = read(source)
            except Exception:
                raise _Fallback from None
            if value is None:
                if nullable:
                    out[name] = None
                    continue
                raise _Fallback
            if kind == _LEAF:
                out[name] = value if text and value.__class__ is str else coerce(value)
            elif kind == _OBJECT:
                if not _not_awaitable(value):
                    _drop(value)
                    raise _Fallback
                out[name] = self._run(cast(tuple[_Compiled, ...], sub), value)
            else:
                out[name] = self._run_list(item_nullable, coerce, sub, value)
        return out

    def _run_list(
        self, item_nullable: bool, coerce: Callable[[Any], Any],
        tree: tuple[_Compiled, ...] | None, value: Any,
    ) -> list[Any]:
        if value.__class__ is not list and value.__class__ is not tuple:
            _drop(value)
            raise _Fallback
        items: list[Any] = []
        for item in value:
            if item is None:
                if not item_nullable:
                    raise _Fallback
                items.append(None)
            elif tree is None:
                items.append(coerce(item))
            elif _not_awaitable(item):
                items.append(self._run(tree, item))
            else:
                _drop(item)
                raise _Fallback
        return items

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
        tree = self._tree_of(parent_type, grouped_field_set)
        if tree is not None:
            try:
                return self._run(tree, source_value)
            except _Fallback:
                pass  # the standard path settles it, errors and their paths included
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


def _constant(value: str) -> Callable[[Any], str]:
    def read(_source: Any) -> str:
        return value

    return read


_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1


def _not_a_leaf(_value: Any) -> Any:
    raise _Fallback


def _coercer(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    """A leaf's result coercion for the compiled way, decided once per type: the common
    Python values of the built-in scalars and strawberry's DateTime settled in place;
    any other value through the type's own coercion; what that cannot settle raises _Fallback
    (the standard path reports it)."""

    def general(value: Any) -> Any:
        if value.__class__ in _PLAIN_VALUES or isinstance(value, enum.Enum):
            coerced = _coerce(leaf, value)
            if coerced is not None:
                return coerced
        _drop(value)
        raise _Fallback

    if leaf is GraphQLString or leaf is GraphQLID:
        return lambda value: value if value.__class__ is str else general(value)
    if leaf is GraphQLBoolean:
        return lambda value: value if value.__class__ is bool else general(value)
    if leaf is GraphQLInt:
        return lambda value: (
            value if value.__class__ is int and _MIN_INT <= value <= _MAX_INT else general(value)
        )
    if leaf is GraphQLFloat:
        return lambda value: (
            value if value.__class__ is float and math.isfinite(value) else general(value)
        )
    if isinstance(leaf, GraphQLScalarType) and leaf.coerce_output_value is isoformat:
        return lambda value: value.isoformat() if value.__class__ is datetime else general(value)
    return general  # enums: _coerce keeps each member's name


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
