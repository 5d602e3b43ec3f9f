"""Imports run one way: surface -> domain -> core, and no module imports itself through others.

The import graph is read statically from the AST of every module under ``src/medcard``, counting
every ``import`` statement wherever it stands: an import inside a function (a "lazy" import) or
under ``TYPE_CHECKING`` is still a dependency, and moving an import into a function is how a
circle is usually hidden, not removed. Importing ``a.b.c`` makes Python run ``a/__init__`` and
``a/b/__init__`` first; those implicit parent imports are not counted (every submodule would
otherwise depend on its package's ``__init__``), only what the statements name.

The layer map below is docs/architecture.md ("A surface imports domains; domains never import
surfaces; core imports nothing of the app"), written as data. A module belongs to the layer of
the longest prefix that names it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "medcard"

CORE, BASE, DOMAIN, SURFACE = "core", "base", "domain", "surface"

LAYERS: dict[str, str] = {
    # core: the database, errors, JSON, time; it imports nothing of medcard outside core.
    "medcard.core": CORE,
    # the one settings object (and the package's own `__init__`, its version): anything but core may read them.
    "medcard.config": BASE,
    # domains: what medcard knows, without HTTP or the command line.
    "medcard.fhir": DOMAIN,
    "medcard.access": DOMAIN,
    "medcard.pediatrics": DOMAIN,
    "medcard.synth": DOMAIN,
    "medcard.terminology": DOMAIN,
    "medcard.notifications": DOMAIN,
    "medcard.sharing": DOMAIN,
    "medcard.records": DOMAIN,  # a child's record in the workspace: chart, timeline, changes, finding, writing a visit
    "medcard.worklists": DOMAIN,  # my day, the inbox, the registrar's tasks
    # surfaces: what a person or a program talks to.
    "medcard.app": SURFACE,
    "medcard.state": SURFACE,  # the application's per-request state, read by routers
    "medcard.cli": SURFACE,
    "medcard.launch": SURFACE,  # what the commands share: settings, logging, the database to use
    "medcard.worker": SURFACE,
    "medcard.domains": SURFACE,  # hands the domains' derived tables to the store, for every entry point
    "medcard.web": SURFACE,  # the workspace and portal pages, when they come
    "medcard.portal": SURFACE,  # the family portal (/my): its pages and how they read a record
    "medcard.fhir.api": SURFACE,  # the FHIR REST routes
    "medcard.fhir.bulk.cli": SURFACE,  # `medcard import` / `export`: progress bar and summary
    "medcard.access.commands": SURFACE,  # `medcard user`, `link`, `client`, `token`
    "medcard.synth.commands": SURFACE,  # `medcard synth`, `medcard demo`
    "medcard.notifications.commands": SURFACE,  # `medcard notifications`
    "medcard.pediatrics.commands": SURFACE,  # `medcard rules report`
    # the sign-in pages, the OAuth/SMART endpoints and what only they use (requests, cookies, headers)
    "medcard.access.web": SURFACE,
    "medcard.access.signin": SURFACE,  # what the sign-in routes share
    "medcard.access.oidc": SURFACE,
    "medcard.access.oauth": SURFACE,
    "medcard.access.register": SURFACE,
    "medcard.access.mount": SURFACE,
    "medcard.access.pages": SURFACE,
    "medcard.access.sessions": SURFACE,
    "medcard.access.hardening": SURFACE,
    "medcard.access.clientauth": SURFACE,
    "medcard.documents": DOMAIN,  # rendering, signing, the registry of issued documents
    "medcard.documents.pages": SURFACE,  # /verify/{code}
    "medcard.documents.commands": SURFACE,  # `medcard documents render|verify|revoke`
    "medcard.terminology.commands": SURFACE,  # `medcard terminology load icd10`
}

# Which layers each layer may import (its own included).
ALLOWED: dict[str, frozenset[str]] = {
    CORE: frozenset({CORE}),
    BASE: frozenset({CORE, BASE}),
    DOMAIN: frozenset({CORE, BASE, DOMAIN}),
    SURFACE: frozenset({CORE, BASE, DOMAIN, SURFACE}),
}


@dataclass(frozen=True)
class Import:
    """One import statement's dependency: ``importer`` line ``line`` imports ``imported``."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.imported}"


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``src`` by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The modules one statement imports: ``from a.b import c`` names ``a.b.c`` if it is a module, else ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """What ``module`` imports of the ``known`` modules: each target once, at its first statement."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, Import] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(node, module, path.name == "__init__.py", known):
                if target in known and target != module:
                    first = found.get(target)
                    if first is None or node.lineno < first.line:
                        found[target] = Import(module, target, node.lineno)
    return sorted(found.values(), key=lambda i: (i.line, i.imported))


def import_graph(src: Path = SRC, package: str = ROOT_PACKAGE) -> dict[str, list[Import]]:
    """Each module of ``package`` and its imports of the package's own modules."""
    found = modules(src, package)
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def strongly_connected(graph: dict[str, list[Import]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.imported not in index:
                visit(edge.imported)
                low[node] = min(low[node], low[edge.imported])
            elif edge.imported in on_stack:
                low[node] = min(low[node], index[edge.imported])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def describe_cycles(graph: dict[str, list[Import]]) -> list[str]:
    """One paragraph per circle: its modules and the imports that close it."""
    paragraphs = []
    for component in strongly_connected(graph):
        members = set(component)
        inner = [str(e) for m in component for e in graph[m] if e.imported in members]
        paragraphs.append(" <-> ".join(component) + ":\n    " + "\n    ".join(inner))
    return paragraphs


def layer_of(module: str) -> str | None:
    """The layer of the longest prefix of ``LAYERS`` that names ``module`` (None: not placed yet)."""
    if module == ROOT_PACKAGE:
        return BASE
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return None


def layer_violations(graph: dict[str, list[Import]]) -> list[str]:
    """Every import of a layer the importer's layer may not import."""
    found = []
    for module in sorted(graph):
        mine = layer_of(module)
        for edge in graph[module]:
            theirs = layer_of(edge.imported)
            if mine is not None and theirs is not None and theirs not in ALLOWED[mine]:
                found.append(f"{mine} {edge} ({theirs})")
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return import_graph()


def test_the_graph_counts_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The reader itself: a circle closed by an import inside a function is a circle."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("import os\nfrom pkg.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n    return x\nthing = 1\n")
    (pkg / "c.py").write_text("from pkg import a, sub\n")
    graph = import_graph(tmp_path, "pkg")
    assert [str(e) for e in graph["pkg.sub.b"]] == ["pkg.sub.b (line 2) imports pkg.a"]
    assert [e.imported for e in graph["pkg.sub"]] == ["pkg.sub.b"]
    assert [e.imported for e in graph["pkg.c"]] == ["pkg.a", "pkg.sub"]
    assert strongly_connected(graph) == [["pkg.a", "pkg.sub.b"]]


def test_the_graph_sees_medcards_imports(graph: dict[str, list[Import]]) -> None:
    """A known import at module level and one inside a function are both in the graph."""
    assert "medcard.fhir.validation" in {e.imported for e in graph["medcard.fhir.store"]}
    assert "medcard.worker" in {e.imported for e in graph["medcard.cli"]}  # imported inside `serve`


def test_every_module_has_a_layer(graph: dict[str, list[Import]]) -> None:
    """A new top-level module or package must be placed in ``LAYERS`` before it can be checked."""
    assert [m for m in sorted(graph) if layer_of(m) is None] == []


def test_no_import_cycles(graph: dict[str, list[Import]]) -> None:
    cycles = describe_cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_imports_run_from_surface_to_domain_to_core(graph: dict[str, list[Import]]) -> None:
    violations = layer_violations(graph)
    assert not violations, "imports against the layers:\n" + "\n".join(violations)
