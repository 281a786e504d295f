"""The layout keeps its shape: imports point one way, RQ stays behind its boundary, and nothing cycles.

Every import statement in ``jobs/`` and ``resilience/`` is read from the source (those inside functions
and under ``TYPE_CHECKING`` too), so a new dependency that breaks the architecture fails here, with the
module and the line that did it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Lowest first: a module may import from its own package and from packages below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("resilience",),
    ("jobs.errors", "jobs._files", "jobs._file_errors"),
    ("jobs.model",),
    ("jobs.settings",),
    ("jobs._keys",),
    ("jobs.connection",),
    ("jobs.telemetry",),
    ("jobs.rq_adapter",),
    ("jobs.dead_letter",),
    ("jobs.stats", "jobs.invariants", "jobs.rules"),
    ("jobs.finishing",),
    ("jobs.outbox",),
    ("jobs.runtime",),
    ("jobs.job",),
    ("jobs.testing",),
    ("jobs",),
    ("jobs.demo",),
    # Read by the CLI's exporter and the console only: nothing else imports it.
    ("jobs.metrics",),
    # The web console: on the dead-letter queue's public API, jobs.stats and the metrics; the CLI serves it.
    ("jobs.console",),
    ("jobs.cli",),
)
# Where third-party packages with a narrow job may be imported.
ONLY_IN = {
    "rq": ("jobs.rq_adapter", "jobs.runtime"),
    "rich": ("jobs.cli", "jobs.demo"),
    "redis": tuple(p for layer in LAYERS for p in layer if p not in ("jobs.model", "jobs.errors")),
}
# Imports inside a function are for optional dependencies only.
OPTIONAL = ("fakeredis", "psycopg", "sqlalchemy")


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, where."""

    module: str
    target: str
    line: int
    in_function: bool

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("jobs", "resilience"):
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import in ``path``, resolved to a module of ours when it names one (else the top package)."""
    tree = ast.parse(path.read_text())
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for named in targets:
            target = (
                named
                if named in known
                else next((t for t in known if named.startswith(t + ".")), named.split(".")[0])
            )
            found.append(Import(module, target, node.lineno, id(node) in in_function))
    return found


MODULES = _modules()
IMPORTS = [i for m, p in MODULES.items() for i in _imports(m, p, set(MODULES))]


def _layer(module: str) -> int:
    best = (-1, -1)
    for number, layer in enumerate(LAYERS):
        for prefix in layer:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), number))
    assert best[1] >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return best[1]


def _package(module: str) -> str:
    """The longest prefix in LAYERS that ``module`` falls under."""
    prefixes = [p for layer in LAYERS for p in layer if module == p or module.startswith(p + ".")]
    return max(prefixes, key=len, default=module)


def _ours(target: str) -> bool:
    return target in MODULES


def test_every_module_belongs_to_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_point_down_the_layers_never_up() -> None:
    upward = [
        f"{i} (layer {_layer(i.module)} imports layer {_layer(i.target)})"
        for i in IMPORTS
        if _ours(i.target)
        and _package(i.target) != _package(i.module)
        and _layer(i.target) > _layer(i.module)
    ]
    assert upward == []


def test_no_import_cycle_anywhere_in_jobs_or_resilience() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in IMPORTS:
        # A submodule imports its package's __init__ first: that edge is Python's, not a dependency.
        if _ours(i.target) and i.target != i.module and not i.module.startswith(i.target + "."):
            graph[i.module].add(i.target)
    cycles = _strongly_connected(graph)
    assert cycles == []


def test_rq_rich_and_redis_are_imported_only_where_they_belong() -> None:
    misplaced = [
        str(i)
        for i in IMPORTS
        for package, allowed in ONLY_IN.items()
        if i.target.split(".")[0] == package and _package(i.module) not in allowed
    ]
    assert misplaced == []


def test_metrics_read_only_the_stats_the_dead_letter_queue_and_rqs_queues() -> None:
    # Given the exporter reads Redis for a scrape, it must not pull in the worker or the job runtime.
    allowed = ("jobs._keys", "jobs.stats", "jobs.dead_letter", "jobs.rq_adapter", "jobs.metrics")
    found = [
        str(i)
        for i in IMPORTS
        if i.module.startswith("jobs.metrics") and _ours(i.target) and not i.target.startswith(allowed)
    ]
    assert found == []


def test_the_console_never_imports_the_worker_or_the_job_runtime() -> None:
    allowed = (
        "jobs._keys",
        "jobs.errors",
        "jobs.settings",
        "jobs.model",
        "jobs.stats",
        "jobs.dead_letter",
        "jobs.metrics",
        "jobs.console",
        "resilience",
    )
    found = [
        str(i)
        for i in IMPORTS
        if i.module.startswith("jobs.console") and _ours(i.target) and not i.target.startswith(allowed)
    ]
    assert found == []


def test_the_library_imports_no_web_framework() -> None:
    # Given the console is an optional extra, only jobs.console (and the CLI's console command) may import it.
    web = ("starlette", "jinja2", "uvicorn", "itsdangerous")
    found = [
        str(i)
        for i in IMPORTS
        if i.target.split(".")[0] in web and not i.module.startswith(("jobs.console", "jobs.cli.console"))
    ]
    assert found == []


def test_the_job_model_does_no_io() -> None:
    io = ("redis", "rq", "socket", "subprocess", "requests", "sentry_sdk")
    found = [str(i) for i in IMPORTS if i.module.startswith("jobs.model") and i.target.split(".")[0] in io]
    assert found == []


def test_imports_inside_functions_are_only_of_optional_dependencies() -> None:
    inside = [str(i) for i in IMPORTS if i.in_function and i.target.split(".")[0] not in OPTIONAL]
    assert inside == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups
