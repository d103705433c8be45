"""Packages depend in one direction, the one reference-docs/architecture.md draws ("Which
package may import which"), and no import hides inside a function to dodge a circle.

Both are read from the source with `ast`, nothing is imported: an import under
`if TYPE_CHECKING:` is for annotations only and is not a dependency at run time."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The domain packages, lowest first: each may import the ones before it, never one after it.
DOMAINS = (
    "usage", "integrations", "credits", "tenants", "channels", "labels", "notes", "media",
    "conversations", "contacts", "templates", "agents", "leads",
)
# The team inbox (status, assignment, read markers) is the conversations domain's other folder:
# its lists are the conversations query with more filters, and its types are the conversation's.
SAME_DOMAIN = {"inbox": "conversations"}
# Where a GraphQL type of a lower domain names a type of a higher one, through
# `strawberry.lazy` (the import under TYPE_CHECKING): Channel.agent and Conversation.lead.
BACK_REFERENCES = {("channels", "agents"), ("conversations", "leads")}
# What a domain never imports: the layers that assemble the domains (the message path, the
# endpoints, the schema, the processes).
ABOVE_DOMAINS = (
    "app.pipeline", "app.webhooks", "app.webchat", "app.cli", "app.main", "app.web", "workers",
    "app.graphql.schema", "app.graphql.subscriptions", "app.graphql.app", "app.graphql.sockets",
)
# The only files with imports inside functions, each for a reason that is not a circle (the
# import carries a comment saying so).
LAZY_IMPORTS = {
    "app/cli/main.py": "each `mca` command loads what it runs, so the others start fast",
    "app/cli/ops.py": "each `mca` command loads what it runs, so the others start fast",
    "app/cli/devrun.py": "each `mca` command loads what it runs, so the others start fast",
    "app/cli/common.py": "alembic, only for the commands that migrate",
    "app/runtime.py": "the sandbox model, only when it answers (no OPENAI_API_KEY)",
    "app/sandbox/server.py": "only the fake server that was asked for",
    "app/media/store.py": "aiobotocore (the optional `s3` extra), only when S3 is configured",
}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the checkout
    line: int
    source: str  # the importing module, e.g. app.agents.service
    target: str  # the imported module, e.g. app.channels.repository
    in_function: bool
    type_checking: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    # `from app.agents import service` imports the module app.agents.service.
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _walk(node: ast.AST, rel: str, module: str, is_package: bool, in_function: bool,
          type_checking: bool) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            for target in _targets(child, module, is_package):
                yield Import(rel, child.lineno, module, target, in_function, type_checking)
        yield from _walk(
            child, rel, module, is_package,
            in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda),
            type_checking or (isinstance(child, ast.If) and _is_type_checking(child)),
        )


def imports() -> Iterator[Import]:
    for top in ("app", "workers"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text(), rel)
            yield from _walk(tree, rel, _module_name(path), path.name == "__init__.py", False, False)


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "app":
        name = SAME_DOMAIN.get(parts[1], parts[1])
        if name in DOMAINS:
            return name
    return None


def domain_graph() -> dict[str, set[str]]:
    """Domain -> the domains it imports at run time."""
    graph: dict[str, set[str]] = {d: set() for d in DOMAINS}
    for imp in imports():
        source, target = domain_of(imp.source), domain_of(imp.target)
        if source and target and source != target and not imp.type_checking:
            graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_inside_a_function_outside_the_allow_list() -> None:
    found = sorted({f"{i.path}:{i.line}" for i in imports()
                    if i.in_function and i.path not in LAZY_IMPORTS})
    assert found == [], (
        "imports inside functions (a circle to break: move the code to the package it "
        "belongs to, or pass the dependency in):\n" + "\n".join(found)
    )


def test_each_allowed_lazy_import_says_why() -> None:
    unexplained = []
    for imp in imports():
        if not imp.in_function:
            continue
        lines = (ROOT / imp.path).read_text().splitlines()
        above = imp.line - 2
        # An import continuing a group (blank lines between) shares the group's comment.
        while above >= 0 and (not lines[above].strip()
                              or lines[above].strip().startswith(("from ", "import "))):
            above -= 1
        if above < 0 or not lines[above].strip().startswith("#"):
            unexplained.append(f"{imp.path}:{imp.line}")
    assert sorted(set(unexplained)) == []


def test_the_domain_packages_have_no_cycle() -> None:
    assert find_cycle(domain_graph()) is None


def test_domains_import_only_the_domains_below_them() -> None:
    rank = {d: i for i, d in enumerate(DOMAINS)}
    upward = sorted({f"{imp.path}:{imp.line}" for imp in imports()
                    if (s := domain_of(imp.source)) and (t := domain_of(imp.target))
                    and rank[t] > rank[s] and not imp.type_checking})
    assert upward == []


def test_a_lower_domain_names_a_higher_one_only_in_the_documented_back_references() -> None:
    rank = {d: i for i, d in enumerate(DOMAINS)}
    lazy = {(s, t) for imp in imports()
            if imp.type_checking and (s := domain_of(imp.source)) and (t := domain_of(imp.target))
            and rank[t] > rank[s]}
    assert lazy == BACK_REFERENCES


def test_domains_never_import_the_layers_that_assemble_them() -> None:
    found = sorted({f"{imp.path}:{imp.line}" for imp in imports()
                    if domain_of(imp.source)
                    and any(imp.target == m or imp.target.startswith(m + ".") for m in ABOVE_DOMAINS)})
    assert found == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None
