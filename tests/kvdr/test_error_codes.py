"""One table of error codes (kvdr.error_codes), generated into docs/errors.md, and read from the
code: every code the production code uses is in the table, and every code in the table is used.

The production code is read with ``ast``. A code is "used" where it is written in a position that
carries a code:

- a class attribute ``default_code = …`` or ``code = …`` (KvdrError subclasses, the local host's
  MalformedDelivery);
- a keyword argument ``code=…`` or ``error_code=…``;
- the value of a ``"code"`` key in a dict literal (activity envelopes, HTTP error bodies);
- the code argument of ``error_response(status, code, …)`` and ``too_large_response(code, …)``;
- the default of ``….get("code", default)``;
- a comparison ``….code == …`` (a code matched on must exist too);
- a constant named ``*_CODE`` or an attribute of a class named ``*Code`` (``OutcomeCode``).

A name or attribute in such a position is resolved through the string constants that modules and
classes define, wherever they live (so the scan survives a constant moving between modules).
As a net for positions the list misses, any string literal shaped like a code of a namespace the
table uses (``vault.something``) must be in the table unless it is a ``kvdr.toml`` key.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvdr.config.settings import SETTINGS
from kvdr.error_codes import ERROR_CODES, ERROR_CODES_BY_NAME, render_markdown

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"
PRODUCTION = ("kvdr", "kvdr_cli", "triggers", "orchestrators", "activities", "engine",
              "function_app.py")
# The engine's exception classes carry codes for its Python callers only (``instance_exists``
# …); the host never puts them in an HTTP answer, so they are not kvdr's codes.
NOT_USER_FACING = {ROOT / "engine" / "errors.py"}
CODE_KEYWORDS = {"code", "error_code"}
CODE_ATTRIBUTES = {"code", "default_code"}
CODE_SHAPE = re.compile(r"^[a-z]+\.[a-z][a-z_]*[a-z]$")
CONSTANT_NAME = re.compile(r"(^|_)CODE$")


def _production_files() -> Iterator[Path]:
    for name in PRODUCTION:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        yield from (f for f in files if f not in NOT_USER_FACING)


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in _production_files()}


def _string_constants(trees: dict[Path, ast.Module]) -> dict[str, set[str]]:
    """``NAME`` (module level) and ``Class.NAME`` -> the strings assigned to them."""
    found: dict[str, set[str]] = defaultdict(set)

    def collect(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                collect(node.body, f"{node.name}.")
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[prefix + target.id].add(value.value)

    for tree in trees.values():
        collect(tree.body, "")
    return found


class _CodeScan(ast.NodeVisitor):
    """Every string in a code-carrying position of one module -> where it is."""

    def __init__(self, constants: dict[str, set[str]], where: str) -> None:
        self.constants = constants
        self.where = where
        self.codes: dict[str, set[str]] = defaultdict(set)
        self._scopes: list[ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef] = []

    def _add(self, expr: ast.expr | None, line: int) -> None:
        for value in self._strings(expr):
            self.codes[value].add(f"{self.where}:{line}")

    def _strings(self, expr: ast.expr | None) -> set[str]:
        if isinstance(expr, ast.Constant):
            return {expr.value} if isinstance(expr.value, str) else set()
        if isinstance(expr, ast.BoolOp):      # error.get("code") or "event.failed"
            return set().union(*(self._strings(v) for v in expr.values))
        if isinstance(expr, ast.IfExp):
            return self._strings(expr.body) | self._strings(expr.orelse)
        if isinstance(expr, ast.Name):
            return set(self.constants.get(expr.id, ()))
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            return set(self.constants.get(f"{expr.value.id}.{expr.attr}", ()))
        if isinstance(expr, ast.Call):        # note.get("code", "sync.verify_failed")
            return self._strings(_get_code_default(expr))
        return set()

    def _scoped(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._scopes.append(node)
        self.generic_visit(node)
        self._scopes.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _scoped

    def _names_a_code(self, name: str) -> bool:
        """A module's ``*_CODE`` constant, or a class's ``code``/``default_code``/``*_CODE``
        attribute or any attribute of a ``*Code`` class; never a function's local."""
        scope = self._scopes[-1] if self._scopes else None
        if scope is None:
            return bool(CONSTANT_NAME.search(name))
        if isinstance(scope, ast.ClassDef):
            return (bool(CONSTANT_NAME.search(name)) or name in CODE_ATTRIBUTES
                    or scope.name.endswith("Code"))
        return False

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and self._names_a_code(target.id):
                self._add(node.value, node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg in CODE_KEYWORDS:
                self._add(keyword.value, node.lineno)
        name = _called_name(node)
        if name == "error_response" and len(node.args) > 1:
            self._add(node.args[1], node.lineno)
        elif name == "too_large_response" and node.args:
            self._add(node.args[0], node.lineno)
        self._add(_get_code_default(node), node.lineno)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "code":
                self._add(value, node.lineno)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        sides = [node.left, *node.comparators]
        if any(isinstance(s, ast.Attribute) and s.attr == "code" for s in sides):
            for side in sides:
                if not (isinstance(side, ast.Attribute) and side.attr == "code"):
                    self._add(side, node.lineno)
        self.generic_visit(node)


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _get_code_default(node: ast.Call) -> ast.expr | None:
    """``default`` of ``x.get("code", default)``."""
    if (_called_name(node) == "get" and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == "code"):
        return node.args[1]
    return None


def _codes_in_use() -> dict[str, set[str]]:
    trees = _trees()
    constants = _string_constants(trees)
    used: dict[str, set[str]] = defaultdict(set)
    for path, tree in trees.items():
        scan = _CodeScan(constants, str(path.relative_to(ROOT)))
        scan.visit(tree)
        for code, where in scan.codes.items():
            used[code] |= where
    return used


def _code_shaped_literals() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and CODE_SHAPE.match(node.value)):
                found[node.value].add(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@pytest.fixture(scope="module")
def in_use() -> dict[str, set[str]]:
    return _codes_in_use()


def test_every_code_the_code_uses_is_in_the_table(in_use):
    unlisted = {code: sorted(where) for code, where in in_use.items()
                if code not in ERROR_CODES_BY_NAME}
    assert unlisted == {}, "add these codes to kvdr/error_codes.py (or fix their spelling)"


def test_every_code_in_the_table_is_used(in_use):
    unused = [spec.code for spec in ERROR_CODES if spec.code not in in_use]
    assert unused == [], "no production code uses these codes: remove them from the table"


def test_every_code_shaped_literal_of_a_listed_namespace_is_in_the_table():
    namespaces = {spec.code.split(".")[0] for spec in ERROR_CODES} - {"kvdr"}  # kvdr.* : loggers
    toml_keys = {spec.toml_key for spec in SETTINGS if spec.toml_key}
    stray = {literal: sorted(where) for literal, where in _code_shaped_literals().items()
             if literal.split(".")[0] in namespaces and literal not in ERROR_CODES_BY_NAME
             and literal not in toml_keys}
    assert stray == {}, "codes outside the positions the scan knows, and not in the table"


def test_the_table_is_unique_sorted_and_says_what_to_do():
    codes = [spec.code for spec in ERROR_CODES]
    assert codes == sorted(set(codes))
    for spec in ERROR_CODES:
        assert CODE_SHAPE.match(spec.code), spec.code
        assert spec.meaning.endswith(".") and spec.action.endswith("."), spec.code
        assert spec.http_status is None or 400 <= spec.http_status < 600, spec.code


def test_the_errors_reference_is_generated_from_the_table():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/errors.md is stale: run `python -m kvdr.error_codes > docs/errors.md`")


def test_the_scan_finds_codes_in_every_position_it_knows():
    source = '''
OWN_CODE = "a.const"
class Outcome:
    SAME = "not.counted"
class ThingCode:
    X = "a.member"
class Err(KvdrError):
    default_code = "a.default"
def f(exc, note):
    raise Err("m", code="a.keyword")
    g(error_code=OWN_CODE, code=ThingCode.X)
    error_response(409, "a.response", "m")
    too_large_response("a.large", exc)
    h({"code": "a.dict", "other": "not.counted"})
    h(code=note.get("code") or "a.fallback")
    h(note.get("code", "a.get_default"))
    return exc.code == "a.compared"
'''
    tree = ast.parse(source)
    scan = _CodeScan(_string_constants({Path("m.py"): tree}), "m.py")
    scan.visit(tree)
    assert set(scan.codes) == {
        "a.const", "a.member", "a.default", "a.keyword", "a.response", "a.large", "a.dict",
        "a.fallback", "a.get_default", "a.compared"}
