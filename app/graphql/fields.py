"""Typed spellings of `@strawberry.field(description=...)` and friends.

With arguments, strawberry's decorators are typed as returning Any, which mypy --strict
refuses on every resolver; these keep the decorated function's type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ForwardRef, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.field(description=description))


def mutation(description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.mutation(description=description))


def subscription(description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.subscription(description=description))


def back_reference(module: str, name: str) -> Any:
    """The class `name` of `module`, for the resolver of a field typed
    `Annotated[Name, strawberry.lazy(module)]`: a type of a lower domain naming a type of a
    higher one (the dependency picture in reference-docs/architecture.md). Strawberry resolves
    the annotation the same way when it builds the schema."""
    return strawberry.lazy(module).resolve_forward_ref(ForwardRef(name)).resolve_type()
