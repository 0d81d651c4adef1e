"""The house rules, measured from the code's own imports (ast; nothing is imported or run):
dependencies point one way, nothing imports in a circle, no production module grows past the
size limit, and imports made inside functions are few and say why."""

from __future__ import annotations

from support import import_graph as ig

MAX_FUNCTION_LEVEL_IMPORTS = 12


def _listing(items: object) -> str:
    return "\n  " + "\n  ".join(str(i) for i in items)  # type: ignore[attr-defined]


def test_dependencies_point_one_way() -> None:
    # kvdr_cli -> function_app -> triggers -> orchestrators -> activities -> kvdr; triggers and
    # orchestrators never import activities; engine/ and emulator/ only below the command line
    bad = ig.wrong_way(ig.all_imports())
    assert not bad, "imports against the layers:" + _listing(bad)


def test_no_module_imports_itself_through_a_circle() -> None:
    loops = ig.cycles(ig.all_imports())
    assert not loops, "import cycles:" + _listing(" -> ".join((*c, c[0])) for c in loops)


def test_kvdr_capability_packages_import_each_other_one_way() -> None:
    # module cycles are not enough: config <-> vault, say, would still tangle two packages
    loops = ig.cycles(ig.package_imports(ig.all_imports()))
    assert not loops, "package cycles:" + _listing(" -> ".join((*c, c[0])) for c in loops)


def test_no_production_module_is_over_the_size_limit() -> None:
    big = ig.oversized()
    assert not big, f"modules over {ig.MAX_LINES} lines:" + _listing(
        f"{name}: {lines}" for name, lines in big)


def test_imports_inside_functions_are_few_and_say_why() -> None:
    late = ig.function_level(ig.all_imports())
    unexplained = [imp for imp in late if not ig.has_reason(imp)]
    assert not unexplained, ("an import inside a function needs a comment on its line or the "
                             "line above saying why:" + _listing(unexplained))
    assert len(late) <= MAX_FUNCTION_LEVEL_IMPORTS, _listing(late)


def test_the_checker_sees_a_wrong_way_import_a_cycle_and_a_late_import(tmp_path) -> None:
    # the rules above must be able to fail: a tiny tree that breaks each one
    (tmp_path / "kvdr").mkdir()
    (tmp_path / "kvdr" / "__init__.py").write_text("")
    (tmp_path / "kvdr" / "a.py").write_text("import kvdr.b\nimport triggers.t\n")
    (tmp_path / "kvdr" / "b.py").write_text("def f():\n    import kvdr.a\n")
    (tmp_path / "triggers").mkdir()
    (tmp_path / "triggers" / "__init__.py").write_text("")
    (tmp_path / "triggers" / "t.py").write_text("import activities.x\n")
    (tmp_path / "activities").mkdir()
    (tmp_path / "activities" / "__init__.py").write_text("")
    (tmp_path / "activities" / "x.py").write_text("\n" * (ig.MAX_LINES + 1))
    imports = ig.all_imports(tmp_path)
    assert {str(i) for i in ig.wrong_way(imports)} == {
        "kvdr.a:2 -> triggers.t", "triggers.t:1 -> activities.x"}
    assert ig.cycles(imports) == [("kvdr.a", "kvdr.b")]
    late = [str(i) for i in ig.function_level(imports)]
    assert late == ["kvdr.b:2 -> kvdr.a (inside a function)"]
    assert not ig.has_reason(ig.function_level(imports)[0], tmp_path)
    assert ig.oversized(tmp_path) == [("activities.x", ig.MAX_LINES + 1)]
    # a top-level module of kvdr counts as its own package
    assert ig.cycles(ig.package_imports(imports)) == [("kvdr.a", "kvdr.b")]


def test_the_package_check_sees_two_packages_importing_each_other(tmp_path) -> None:
    for package, other in (("config", "vault"), ("vault", "config")):
        (tmp_path / "kvdr" / package).mkdir(parents=True)
        (tmp_path / "kvdr" / package / "__init__.py").write_text("")
        (tmp_path / "kvdr" / package / "m.py").write_text(f"import kvdr.{other}.n\n")
        (tmp_path / "kvdr" / package / "n.py").write_text("")
    (tmp_path / "kvdr" / "__init__.py").write_text("")
    imports = ig.all_imports(tmp_path)
    assert ig.cycles(imports) == []   # no module cycle ...
    # ... but a package one
    assert ig.cycles(ig.package_imports(imports)) == [("kvdr.config", "kvdr.vault")]
