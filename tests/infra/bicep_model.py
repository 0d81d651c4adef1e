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
                   "&&": lambda a, b: a and b, "||": lambda a, b: a or b}
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
