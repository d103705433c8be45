"""Text no field can store: a NUL character (U+0000) anywhere in an operation's input.

Postgres text cannot hold U+0000, so any string carrying one fails in the database, after
the resolver has done its work, as an internal error. One check before execution covers every
argument of every operation (variables and literals alike) instead of one per field, and answers
BAD_USER_INPUT naming the argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from app.graphql.errors import coded_error

NUL = "\x00"
BAD_USER_INPUT = "BAD_USER_INPUT"


def nul_in_value(value: Any, path: str) -> str | None:
    """The path of the first string holding a NUL in a variables value, or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if NUL in str(key):
                return here
            if found := nul_in_value(item, here):
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if found := nul_in_value(item, f"{path}[{index}]"):
                return found
    return None


class _FindNul(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: str | None = None

    def enter_string_value(
        self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any
    ) -> Any:
        if NUL in node.value and self.found is None:
            # `ancestors` stops above the parent.
            lineage = [*ancestors, parent]
            names = [a.name.value for a in lineage
                     if isinstance(a, ArgumentNode | ObjectFieldNode)]
            variable = next((a.variable.name.value for a in reversed(lineage)
                             if isinstance(a, VariableDefinitionNode)), None)
            self.found = ".".join(names) or (f"${variable}" if variable else "a string")
            return self.BREAK
        return None


def nul_in_document(document: DocumentNode) -> str | None:
    """The argument whose literal string holds a NUL (written `\\u0000` in the document)."""
    finder = _FindNul()
    visit(document, finder)
    return finder.found


class RefuseNul(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        where = next((found for name, value in (ctx.variables or {}).items()
                      if (found := nul_in_value(value, f"${name}"))), None)
        # A literal NUL can only be written as a \u escape; most documents have none.
        if where is None and ctx.graphql_document is not None and "\\u" in (ctx.query or ""):
            where = nul_in_document(ctx.graphql_document)
        if where is not None:
            raise coded_error(
                f"{where}: text must not contain the NUL character (U+0000)", BAD_USER_INPUT,
                field=where,
            )
        yield
