"""A small read-only model of Bicep files, built on the tree-sitter Bicep grammar.

The Bicep compiler cannot run in CI here, so the policy tests read the templates' parse trees:
declarations by kind and name, resource bodies by type, object properties by path, and a tiny
evaluator for the constant expressions the policies depend on (ternaries over `networkMode`,
`concat`, member access, literals), so a test can ask "what is publicNetworkAccess when
networkMode is 'private'?" instead of matching text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter as ts
import tree_sitter_bicep as tsb

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"

_PARSER = ts.Parser(ts.Language(tsb.language()))


def parse(source: bytes) -> ts.Tree:
    return _PARSER.parse(source)


def error_nodes(node: ts.Node) -> Iterator[ts.Node]:
    """Every ERROR or MISSING node under ``node``."""
    if node.type == "ERROR" or node.is_missing:
        yield node
    for child in node.children:
        yield from error_nodes(child)


def text(node: ts.Node) -> str:
    return node.text.decode()


def _named(node: ts.Node) -> list[ts.Node]:
    return [c for c in node.children if c.is_named]


def key_of(prop: ts.Node) -> str:
    key = _named(prop)[0]
    return string_literal(key) if key.type == "string" else text(key)


def value_of(prop: ts.Node) -> ts.Node:
    return _named(prop)[-1]


def string_literal(node: ts.Node) -> str | None:
    """The value of a string without interpolation, else None."""
    if node.type != "string":
        return None
    if any(c.type == "interpolation" for c in node.children):
        return None
    return "".join(text(c) for c in node.children if c.type == "string_content")


def properties(obj: ts.Node) -> dict[str, ts.Node]:
    assert obj.type == "object", obj.type
    return {key_of(p): value_of(p) for p in obj.children if p.type == "object_property"}


def prop(obj: ts.Node, path: str) -> ts.Node:
    """The value node at a dotted ``path`` of object properties (KeyError if absent)."""
    node = obj
    for part in path.split("."):
        node = properties(node)[part]
    return node


def body_of(declaration: ts.Node) -> tuple[ts.Node, ts.Node | None, bool]:
    """(body object, condition expression or None, is a loop) of a resource/module."""
    node = declaration.children[-1]
    loop = node.type == "for_statement"
    if loop:
        node = node.child_by_field_name("body")
    condition = None
    if node.type == "if_statement":
        condition = _named(node)[0]
        node = _named(node)[-1]
    return node, condition, loop


@dataclass(frozen=True)
class Declaration:
    file: BicepFile
    kind: str  # resource, module, param, var, output
    name: str
    node: ts.Node

    @property
    def type_string(self) -> str:
        return string_literal(_named(self.node)[1]) or ""

    @property
    def resource_type(self) -> str:
        return self.type_string.split("@")[0]

    @property
    def api_version(self) -> str:
        return self.type_string.split("@")[1] if "@" in self.type_string else ""

    @property
    def existing(self) -> bool:
        return any(c.type == "existing" for c in self.node.children)

    @property
    def body(self) -> ts.Node:
        return body_of(self.node)[0]

    @property
    def condition(self) -> ts.Node | None:
        return body_of(self.node)[1]

    def get(self, path: str) -> ts.Node:
        return prop(self.body, path)

    @property
    def value(self) -> ts.Node:
        """The value of a param default / var / output."""
        return _named(self.node)[-1]

    @property
    def decorators(self) -> list[str]:
        prev = self.node.prev_named_sibling
        if prev is None or prev.type != "decorators":
            return []
        return [text(d) for d in prev.children if d.type == "decorator"]


_KIND = {"resource_declaration": "resource", "module_declaration": "module",
         "parameter_declaration": "param", "variable_declaration": "var",
         "output_declaration": "output"}


class BicepFile:
    def __init__(self, path: Path):
        self.path = path
        self.source = path.read_bytes()
        self.tree = parse(self.source)

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(REPO))

    def declarations(self, kind: str | None = None) -> list[Declaration]:
        found = []
        for node in self.tree.root_node.children:
            if node.type in _KIND and (kind is None or _KIND[node.type] == kind):
                found.append(Declaration(self, _KIND[node.type], text(_named(node)[0]), node))
        return found

    def named(self, kind: str, name: str) -> Declaration:
        for decl in self.declarations(kind):
            if decl.name == name:
                return decl
        raise KeyError(f"{kind} {name} not in {self.rel}")

    def resources(self, resource_type: str) -> list[Declaration]:
        return [d for d in self.declarations("resource")
                if d.resource_type.lower() == resource_type.lower()]

    def modules(self, path: str) -> list[Declaration]:
        return [d for d in self.declarations("module") if d.type_string == path]

    def walk(self, node_type: str) -> Iterator[ts.Node]:
        stack = [self.tree.root_node]
        while stack:
            node = stack.pop()
            if node.type == node_type:
                yield node
            stack.extend(reversed(node.children))


@cache
def load(rel: str) -> BicepFile:
    return BicepFile(BICEP_DIR / rel)


def bicep_files() -> list[Path]:
    return sorted(BICEP_DIR.rglob("*.bicep"))


# --- a tiny evaluator ---------------------------------------------------------------------------

class Unevaluable(Exception):
    pass


def evaluate(node: ts.Node, env: Mapping[str, Any], file: BicepFile | None = None) -> Any:
    """Evaluate a constant Bicep expression. ``env`` binds params; vars of ``file`` are
    evaluated on demand. Anything else raises Unevaluable."""
    def ev(n: ts.Node) -> Any:
        t = n.type
        if t == "string":
            value = string_literal(n)
            if value is None:
                raise Unevaluable(text(n))
            return value
        if t == "boolean":
            return text(n) == "true"
        if t == "number":
            return int(text(n))
        if t == "null":
            return None
        if t == "array":
            return [ev(c) for c in _named(n)]
        if t == "object":
            return {k: ev(v) for k, v in properties(n).items()}
        if t == "parenthesized_expression":
            return ev(_named(n)[0])
        if t == "identifier":
            name = text(n)
            if name in env:
                return env[name]
            if file is not None:
                try:
                    return ev(file.named("var", name).value)
                except KeyError:
                    pass
            raise Unevaluable(name)
        if t == "ternary_expression":
            return ev(n.child_by_field_name("consequence") if ev(n.child_by_field_name("condition"))
                      else n.child_by_field_name("alternative"))
        if t == "binary_expression":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            op = text(n.child_by_field_name("operator") or n.children[1])
            ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
                   "&&": lambda a, b: a and b, "||": lambda a, b: a or b,
                   ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
                   "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
            if op not in ops:
                raise Unevaluable(op)
            return ops[op](ev(left), ev(right))
        if t == "unary_expression":
            if text(n.children[0]) == "!":
                return not ev(_named(n)[-1])
            raise Unevaluable(text(n))
        if t == "member_expression":
            obj = ev(n.child_by_field_name("object"))
            return obj[text(n.child_by_field_name("property"))]
        if t == "call_expression":
            fn = text(n.child_by_field_name("function"))
            args = [ev(a) for a in _named(n.child_by_field_name("arguments"))]
            if fn == "concat":
                return [x for a in args for x in a]
            if fn == "empty":
                return not args[0]
            raise Unevaluable(fn)
        raise Unevaluable(f"{t}: {text(n)[:60]}")
    return ev(node)


GUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


# --- references, dependencies and data flow -----------------------------------------------------

def referenced_names(node: ts.Node) -> set[str]:
    """Every name an expression refers to: identifiers other than object property keys."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "identifier":
            parent = n.parent
            is_key = parent is not None and parent.type == "object_property" and \
                _named(parent)[0] == n
            if not is_key:
                found.add(text(n))
        stack.extend(n.children)
    return found


def expression_of(decl: Declaration) -> ts.Node:
    """What a declaration evaluates: a resource/module body (with its loop and condition) or a
    param default / var / output value."""
    return decl.node.children[-1]


@dataclass(frozen=True)
class Ref:
    """One declaration of one file (a file-level node: every instance of a module is one)."""
    rel: str  # relative to infra/bicep
    name: str


def _rel(file: BicepFile) -> str:
    return file.path.relative_to(BICEP_DIR).as_posix()


def _target(module: Declaration) -> BicepFile:
    return load((module.file.path.parent / module.type_string).resolve()
                .relative_to(BICEP_DIR).as_posix())


class DependencyGraph:
    """What ARM waits for before it deploys a declaration: explicit dependsOn and implicit
    references (through vars) to resources and modules of the same file, everything the module
    deployment that holds the file waits for, and, for a module, everything inside it."""

    def __init__(self, root: str = "main.bicep"):
        self.files: dict[str, BicepFile] = {}
        self.loaded_by: dict[str, list[Ref]] = {}
        pending = [load(root)]
        while pending:
            file = pending.pop()
            if _rel(file) in self.files:
                continue
            self.files[_rel(file)] = file
            for module in file.declarations("module"):
                target = _target(module)
                self.loaded_by.setdefault(_rel(target), []).append(Ref(_rel(file), module.name))
                pending.append(target)

    def declaration(self, ref: Ref) -> Declaration:
        file = self.files[ref.rel]
        return next(d for d in file.declarations() if d.name == ref.name and d.kind in
                    ("resource", "module"))

    def direct(self, ref: Ref) -> set[Ref]:
        file = self.files[ref.rel]
        deployable = {d.name for d in file.declarations() if d.kind in ("resource", "module")}
        variables = {d.name: d for d in file.declarations("var")}
        seen: set[str] = set()
        names = referenced_names(expression_of(self.declaration(ref)))
        found = set()
        while names:
            name = names.pop()
            if name in seen or name == ref.name:
                continue
            seen.add(name)
            if name in deployable:
                found.add(Ref(ref.rel, name))
            elif name in variables:
                names |= referenced_names(expression_of(variables[name]))
        return found

    def contents(self, module: Ref) -> set[Ref]:
        target = _target(self.declaration(module))
        return {Ref(_rel(target), d.name) for d in target.declarations()
                if d.kind in ("resource", "module")}

    def inherited(self, rel: str) -> set[Ref]:
        found: set[Ref] = set()
        for module in self.loaded_by.get(rel, []):
            found |= self.direct(module) | self.inherited(module.rel)
        return found

    def waits_for(self, ref: Ref) -> set[Ref]:
        """Every declaration that is complete before ``ref`` is deployed."""
        found: set[Ref] = set()
        pending = list(self.direct(ref) | self.inherited(ref.rel))
        while pending:
            dep = pending.pop()
            if dep in found:
                continue
            found.add(dep)
            pending.extend(self.direct(dep) | self.inherited(dep.rel))
            if self.declaration(dep).kind == "module":
                pending.extend(self.contents(dep))
        return found


def secure(decl: Declaration) -> bool:
    return "@secure()" in decl.decorators


def tainted_params(root: str, secrets: set[str]) -> dict[str, set[str]]:
    """Data flow of the ``secrets`` params of ``root`` through vars and module parameters:
    file -> the params (and vars) of that file that carry a secret."""
    flow: dict[str, set[str]] = {}
    pending = [(load(root), set(secrets))]
    while pending:
        file, carried = pending.pop()
        rel = _rel(file)
        variables = {d.name: d for d in file.declarations("var")}
        tainted = set(carried)
        changed = True
        while changed:
            changed = False
            for name, var in variables.items():
                if name not in tainted and referenced_names(var.value) & tainted:
                    tainted.add(name)
                    changed = True
        if tainted <= flow.get(rel, set()):
            continue
        flow[rel] = flow.get(rel, set()) | tainted
        for module in file.declarations("module"):
            passed = {key for key, value in properties(module.get("params")).items()
                      if referenced_names(value) & tainted}
            if passed:
                pending.append((_target(module), passed))
    return flow
