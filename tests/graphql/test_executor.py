"""The executor's short and compiled ways (app/graphql/executor.py) answer exactly what
graphql-core's own execution answers: the same schema run both ways gives the same data and
the same errors, with the same paths, for the values read in place and for those handed back
(nulls where none is allowed, bad enum values, resolvers that raise or await)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from app.graphql.executor import Executor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Bad(enum.Enum):
    GREEN = "green"  # not a Colour


@strawberry.type
class Leaf:
    name: str
    maybe: str | None


@strawberry.type
class Node:
    id: strawberry.ID
    label: str
    note: str | None
    count: int
    ratio: float
    at: datetime
    colour: Colour
    maybe_colour: Colour | None
    leaf: Leaf
    maybe_leaf: Leaf | None
    tags: list[str]

    @strawberry.field
    def shout(self) -> str:
        if self.label == "boom":
            raise ValueError("no shouting")
        return self.label.upper()

    @strawberry.field
    def later(self) -> Leaf:
        async def load() -> Leaf:
            if self.label == "late boom":
                raise ValueError("not later")
            return Leaf(name=f"later {self.label}", maybe=None)

        return cast(Leaf, load())

    @strawberry.field
    def optional_shout(self) -> str | None:
        if self.label == "boom":
            raise ValueError("no optional shouting")
        return None


def node(label: str = "a", **kw: Any) -> Node:
    values: dict[str, Any] = {
        "id": strawberry.ID(str(uuid.UUID(int=1))), "label": label, "note": None, "count": 3,
        "ratio": 0.5, "at": datetime(2026, 12, 2, 14, 0, tzinfo=UTC), "colour": Colour.RED,
        "maybe_colour": None, "leaf": Leaf(name="leaf", maybe="m"), "maybe_leaf": None,
        "tags": ["x", "y"],
    }
    values.update(kw)
    return Node(**values)


NODES: list[Node] = []


@strawberry.type
class Query:
    @strawberry.field
    def nodes(self) -> list[Node]:
        return NODES

    @strawberry.field
    def maybe_nodes(self) -> list[Node] | None:
        return NODES


# Every field here is one the compiled way takes: the whole list is read in one pass.
COMPILED = """{ nodes { __typename id label note count ratio at colour maybeColour
  leaf { __typename name maybe } maybeLeaf { name } tags shout optionalShout } }"""
ALL = """{ nodes { __typename id label note count ratio at colour maybeColour
  leaf { name maybe } maybeLeaf { name } tags shout optionalShout later { name maybe } } }"""


class Wrapping(SchemaExtension):
    """A schema extension with a resolve hook: every field must go the standard way."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        result = _next(root, info, *args, **kwargs)
        return result.upper() if isinstance(result, str) and info.field_name == "label" else result


def run(query: str, nodes: list[Node], **schema_kw: Any) -> tuple[dict[str, Any], Any]:
    NODES[:] = nodes
    import warnings
    plain = strawberry.Schema(query=Query, **schema_kw)
    ours = strawberry.Schema(query=Query, execution_context_class=Executor, **schema_kw)

    def outcome(schema: strawberry.Schema) -> tuple[Any, Any]:
        import asyncio

        result = asyncio.run(schema.execute(query))
        errors = sorted(
            (e.message, tuple(e.path or ())) for e in result.errors or []
        )
        return result.data, errors

    theirs_result = outcome(plain)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours_result = outcome(ours)
    # An awaitable read and handed back to the standard path is closed, never left unawaited.
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert ours_result == theirs_result
    return ours_result


def test_plain_values_come_out_as_graphql_core_makes_them():
    data, errors = run(ALL, [node("a"), node("b", note="n", maybe_colour=Colour.BLUE,
                                            maybe_leaf=Leaf(name="ml", maybe=None))])
    assert errors == []
    first, second = data["nodes"]
    assert first["id"] == str(uuid.UUID(int=1)) and first["colour"] == "RED"
    assert first["at"] == "2026-12-02T14:00:00+00:00" and first["ratio"] == 0.5
    assert first["shout"] == "A" and first["later"] == {"name": "later a", "maybe": None}
    assert second["maybeColour"] == "BLUE" and second["maybeLeaf"] == {"name": "ml"}


BAD = [
    {"label": None},  # null for a non-null scalar: the node, then the list, become null
    {"colour": Bad.GREEN},  # not a value of the enum
    {"count": "three"},  # not an Int
    {"count": 2**40},  # an int outside Int's 32 bits
    {"ratio": float("inf")},  # not a finite Float
    {"at": "yesterday"},  # not a datetime
    {"leaf": None},  # null for a non-null object
    {"leaf": Leaf(name=None, maybe=None)},  # an object read in place, its field failing
    {"label": "boom"},  # a self-only resolver raising (non-null and nullable)
]


@pytest.mark.parametrize(
    ("bad", "query"),
    [*((bad, ALL) for bad in BAD), *((bad, COMPILED) for bad in BAD),
     ({"label": "late boom"}, ALL)],  # a self-only resolver's awaitable raising
)
def test_what_the_short_way_cannot_settle_fails_as_graphql_core_fails(bad, query):
    data, errors = run(query, [node("ok"), node(**{"label": "x", **bad})])
    assert errors, "each case is an error"
    assert data is None  # non-null all the way up: the error nulls the whole answer


def test_a_selection_of_plain_fields_is_answered_whole_the_compiled_way():
    data, errors = run(COMPILED, [node("a"), node("b", maybe_leaf=Leaf(name="ml", maybe=None),
                                                  tags=("t", 3.5), count=-(2**31))])
    assert errors == []
    first, second = data["nodes"]
    assert first["__typename"] == "Node" and first["leaf"]["__typename"] == "Leaf"
    # A float in a list of String is coerced by the type's own coercion, as graphql-core does.
    assert first["tags"] == ["x", "y"] and second["tags"] == ["t", "3.5"]
    assert second["count"] == -(2**31)
    assert second["maybeLeaf"] == {"name": "ml"} and first["maybeLeaf"] is None


def test_the_compiled_way_hands_an_awaitable_back_to_the_standard_path():
    # `later` returns a coroutine: the compiled pass stops there, closes it, and the standard
    # path resolves the same selection, awaiting its own.
    query = "{ nodes { label later { name } } }"
    data, errors = run(query, [node("a"), node("b")])
    assert errors == []
    assert data == {"nodes": [{"label": "a", "later": {"name": "later a"}},
                              {"label": "b", "later": {"name": "later b"}}]}


def test_a_bad_value_deep_in_a_compiled_selection_keeps_graphql_cores_error_and_path():
    data, errors = run("{ maybeNodes { label leaf { name } tags } }",
                       [node("ok"), node("x", tags=["x", None])])
    assert data == {"maybeNodes": None}
    assert errors == [
        ("Cannot return null for non-nullable field Node.tags.", ("maybeNodes", 1, "tags", 1))
    ]


def test_a_failing_field_inside_a_nullable_object_nulls_only_that_object():
    data, errors = run(ALL, [node("x", maybe_leaf=Leaf(name=None, maybe="m"))])
    assert data is not None and data["nodes"][0]["maybeLeaf"] is None
    assert errors == [
        ("Cannot return null for non-nullable field Leaf.name.", ("nodes", 0, "maybeLeaf", "name"))
    ]


def test_a_bad_value_in_a_nullable_field_nulls_only_that_field():
    data, errors = run(ALL, [node("ok"), node("x", maybe_colour="purple")])
    assert data is not None and data["nodes"][1]["maybeColour"] is None
    assert data["nodes"][1]["label"] == "x"
    assert errors == [("Enum 'Colour' cannot represent value: 'purple'", ("nodes", 1, "maybeColour"))]


def test_a_nullable_list_takes_the_error_and_keeps_the_rest_of_the_answer():
    query = "{ maybeNodes { label } nodes { count } }"
    data, errors = run(query, [node("ok"), node(label=None)])
    assert data == {"maybeNodes": None, "nodes": [{"count": 3}, {"count": 3}]}
    assert errors == [
        ("Cannot return null for non-nullable field Node.label.", ("maybeNodes", 1, "label"))
    ]


def test_a_schema_extension_that_wraps_resolvers_sees_every_field():
    data, errors = run("{ nodes { label shout } }", [node("quiet")], extensions=[Wrapping])
    assert errors == []
    assert data == {"nodes": [{"label": "QUIET", "shout": "QUIET"}]}
