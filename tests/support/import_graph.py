"""The project's import graph, read with ``ast`` (nothing is imported or run).

Used by ``tests/test_architecture.py`` to enforce the layer rules, and runnable on its own
(``python tests/support/import_graph.py``) to print the figures the restructure is measured by:
wrong-way imports, import cycles, production modules over the size limit, and imports of project
modules made inside functions.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Top-level packages and modules of the product, from the top layer down. A module may import
# its own layer and the layers below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("kvdr_cli",),
    ("function_app",),
    ("triggers",),
    ("orchestrators",),
    ("activities",),
    ("kvdr",),
)
# The local stand-ins: imported by the command line (and tests, benchmarks), never by the app;
# they import nothing of the app (they are handed the DFApp).
STAND_INS = ("engine", "emulator")
# Orchestrators stay pure and triggers thin: both reach activities by name (the catalogue),
# never by importing an activity module.
ACTIVITY_FREE = ("triggers", "orchestrators")
PRODUCTION = tuple(p for layer in LAYERS for p in layer) + STAND_INS
MAX_LINES = 450


@dataclass(frozen=True)
class Import:
    source: str         # importing module, dotted
    target: str         # imported project module, dotted (resolved to a module that exists)
    line: int
    in_function: bool

    def __str__(self) -> str:
        where = " (inside a function)" if self.in_function else ""
        return f"{self.source}:{self.line} -> {self.target}{where}"


def module_files(root: Path = REPO) -> dict[str, Path]:
    """Every production module, dotted name -> file."""
    found: dict[str, Path] = {}
    for top in PRODUCTION:
        single = root / f"{top}.py"
        if single.is_file():
            found[top] = single
        package = root / top
        if package.is_dir():
            for path in sorted(package.rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                parts = list(path.relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a project module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def imports_of(module: str, modules: dict[str, Path]) -> Iterator[Import]:
    tree = ast.parse(modules[module].read_text(encoding="utf-8"))
    package = module if _is_package(module, modules) else module.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue   # typing-only imports run nothing
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = _resolve(alias.name, modules)
                    if target:
                        yield Import(module, target, child.lineno, inside)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    # `from pkg import sub` imports the submodule when there is one
                    target = _resolve(f"{base}.{alias.name}", modules) or _resolve(base, modules)
                    if target:
                        yield Import(module, target, child.lineno, inside)
            yield from visit(child, inside)

    yield from visit(tree, False)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def all_imports(root: Path = REPO) -> list[Import]:
    modules = module_files(root)
    unique = {imp: None for module in modules for imp in imports_of(module, modules)
              if imp.target != imp.source}   # `from m import a, b` is one import of m
    return list(unique)


def top(module: str) -> str:
    return module.split(".")[0]


def layer_of(module: str) -> int | None:
    for index, layer in enumerate(LAYERS):
        if top(module) in layer:
            return index
    return None


def wrong_way(imports: list[Import]) -> list[Import]:
    """Imports that run up a layer, into a stand-in from the app, or from a stand-in into the
    app."""
    bad = []
    for imp in imports:
        src, dst = top(imp.source), top(imp.target)
        src_layer, dst_layer = layer_of(imp.source), layer_of(imp.target)
        if src in STAND_INS:
            if dst not in STAND_INS:
                bad.append(imp)
        elif dst in STAND_INS:
            if src != "kvdr_cli":
                bad.append(imp)
        elif (src_layer is not None and dst_layer is not None and dst_layer < src_layer) or (
                src in ACTIVITY_FREE and dst == "activities"):
            bad.append(imp)
    return bad


def cycles(imports: list[Import], limit: int = 1000) -> list[tuple[str, ...]]:
    """Elementary cycles of the module graph (every import, at module level or not: an import
    moved into a function still ties the two modules together), each once, up to ``limit``."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set()).add(imp.target)
    found: list[tuple[str, ...]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    order = {n: i for i, n in enumerate(nodes)}
    # Johnson-like enumeration restricted to cycles whose smallest node is the start
    for start in nodes:
        stack = [(start, iter(sorted(graph.get(start, ()))))]
        path = [start]
        on_path = {start}
        while stack:
            _node, children = stack[-1]
            advanced = False
            for child in children:
                if order[child] < order[start]:
                    continue
                if child == start:
                    found.append(tuple(path))
                    if len(found) >= limit:
                        return found
                elif child not in on_path:
                    stack.append((child, iter(sorted(graph.get(child, ())))))
                    path.append(child)
                    on_path.add(child)
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                on_path.discard(path.pop())
    return found


def kvdr_package(module: str) -> str | None:
    """``kvdr.sync.plan`` -> ``kvdr.sync``; a top-level module of kvdr (``kvdr.status``) counts
    as a package of its own."""
    parts = module.split(".")
    if parts[0] != "kvdr":
        return None
    return ".".join(parts[:2]) if len(parts) > 1 else "kvdr"


def package_imports(imports: list[Import]) -> list[Import]:
    """The imports between kvdr's capability packages, as package -> package."""
    found: dict[tuple[str, str], Import] = {}
    for imp in imports:
        src, dst = kvdr_package(imp.source), kvdr_package(imp.target)
        if src and dst and src != dst:
            found.setdefault((src, dst), Import(src, dst, imp.line, imp.in_function))
    return list(found.values())


def oversized(root: Path = REPO, max_lines: int = MAX_LINES) -> list[tuple[str, int]]:
    sizes = [(name, len(path.read_text(encoding="utf-8").splitlines()))
             for name, path in module_files(root).items()]
    return sorted(((n, s) for n, s in sizes if s > max_lines), key=lambda x: -x[1])


def has_reason(imp: Import, root: Path = REPO) -> bool:
    """An import inside a function says why: a comment on its line or on the line above."""
    path = module_files(root)[imp.source]
    lines = path.read_text(encoding="utf-8").splitlines()
    here = lines[imp.line - 1]
    above = lines[imp.line - 2].strip() if imp.line >= 2 else ""
    return "#" in here or above.startswith("#")


def function_level(imports: list[Import]) -> list[Import]:
    """Import statements inside functions (one per statement, whatever it names)."""
    seen: dict[tuple[str, int], Import] = {}
    for imp in imports:
        if imp.in_function:
            seen.setdefault((imp.source, imp.line), imp)
    return list(seen.values())


def main() -> int:
    imports = all_imports()
    bad, loops = wrong_way(imports), cycles(imports)
    big, late = oversized(), function_level(imports)
    print(f"wrong-way imports: {len(bad)}")
    for imp in bad:
        print(f"  {imp}")
    print(f"import cycles: {len(loops)}")
    for loop in loops[:40]:
        print("  " + " -> ".join((*loop, loop[0])))
    print(f"modules over {MAX_LINES} lines: {len(big)}")
    for name, size in big:
        print(f"  {name}: {size}")
    print(f"function-level imports of project modules: {len(late)}")
    for imp in late:
        print(f"  {imp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
