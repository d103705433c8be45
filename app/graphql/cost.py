"""What an operation may cost, computed from its document before anything runs.

Cost = the number of field resolutions the operation can ask for: every field counts once for
every row it can be resolved on, and a paginated field (one with `first` / `last`) multiplies
everything below it by its page size (the literal, the variable's value, or the default of
20; capped at 100 like the resolvers cap it). Fragments count where they are spread; the
branches of a union or interface are added up (an upper bound). Examples:
`{ viewer { id } }` costs 2; `conversations(first: 100) { edges { node { id messages(first:
100) { edges { node { id } } } } } }` costs 1 + 100 * (3 + 1 + 100 * 3) = 30,401.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_interface_type,
    is_object_type,
)
from graphql.type.definition import GraphQLNamedType

from app.graphql.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PAGE_ARGUMENTS = ("first", "last")


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


class _Coster:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.variables = variables
        self.defaults = defaults

    def page_size(self, node: FieldNode) -> int | None:
        """The page a paginated field asks for, or None for a field that is not paginated."""
        size: int | None = None
        for arg in node.arguments or ():
            if arg.name.value not in PAGE_ARGUMENTS:
                continue
            value: Any = None
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                name = arg.value.name.value
                value = self.variables.get(name, self.defaults.get(name))
            if isinstance(value, int) and not isinstance(value, bool):
                size = max(size or 0, min(max(value, 1), MAX_PAGE_SIZE))
        return size

    def cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None,
             rows: int, seen: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += rows
                field_type = None
                paginated = False
                if is_object_type(parent) or is_interface_type(parent):
                    definition = parent.fields.get(selection.name.value)
                    if definition is not None:
                        field_type = get_named_type(definition.type)
                        paginated = any(a in definition.args for a in PAGE_ARGUMENTS)
                below = rows
                if paginated:
                    below = rows * (self.page_size(selection) or DEFAULT_PAGE_SIZE)
                total += self.cost(selection.selection_set, field_type, below, seen)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                target = self.schema.get_type(cond.name.value) if cond is not None else parent
                total += self.cost(selection.selection_set, target, rows, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # refused by validation anyway
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.cost(fragment.selection_set, target, rows, seen | {name})
        return total


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The cost of the operation that would run (0 when none would: validation says why)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    defaults: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        if isinstance(definition.default_value, IntValueNode):
            defaults[definition.variable.name.value] = int(definition.default_value.value)
    coster = _Coster(schema, document, variables or {}, defaults)
    return coster.cost(operation.selection_set, root, 1)
