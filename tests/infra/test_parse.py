"""Every template parses with the tree-sitter Bicep grammar; the parameter file names only
parameters main.bicep declares and supplies every one that has no default."""

import re

import pytest

from support import bicep_model as bm

FILES = bm.bicep_files()


def test_the_deployment_has_a_main_template_and_modules():
    names = {p.relative_to(bm.BICEP_DIR).as_posix() for p in FILES}
    assert "main.bicep" in names
    assert {"modules/vault.bicep", "modules/functionApp.bicep", "modules/storage.bicep",
            "modules/network.bicep", "modules/privateLinks.bicep", "modules/eventGrid.bicep",
            "modules/alerts.bicep", "modules/access.bicep", "modules/monitoring.bicep"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(bm.BICEP_DIR).as_posix())
def test_bicep_file_parses_without_error_or_missing_nodes(path):
    tree = bm.parse(path.read_bytes())
    errors = [(n.start_point.row + 1, bm.text(n)[:60]) for n in bm.error_nodes(tree.root_node)]
    assert errors == [], f"{path.name}: {errors}"


def test_every_module_reference_points_at_an_existing_file():
    for path in FILES:
        for decl in bm.BicepFile(path).declarations("module"):
            assert (path.parent / decl.type_string).is_file(), (path.name, decl.type_string)


# The grammar (tree-sitter-bicep 1.1) has no .bicepparam support: `param x = value` without a
# type is an error node. A .bicepparam file is `using` plus such assignments, so each assignment
# is checked as the equivalent `var` declaration, which exercises the same expression grammar.
PARAM_FILE = bm.BICEP_DIR / "main.bicepparam"
_ASSIGNMENT = re.compile(r"^param\s+(\w+)\s*=", re.M)


def test_bicepparam_uses_main_and_its_expressions_parse():
    source = PARAM_FILE.read_text()
    assert re.search(r"^using\s+'\./main\.bicep'\s*$", source, re.M)
    as_bicep = re.sub(r"^using\s+.*$", "", source, flags=re.M)
    as_bicep = _ASSIGNMENT.sub(lambda m: f"var {m.group(1)} =", as_bicep)
    tree = bm.parse(as_bicep.encode())
    assert list(bm.error_nodes(tree.root_node)) == []


def test_bicepparam_sets_only_declared_parameters_and_every_required_one():
    assigned = set(_ASSIGNMENT.findall(PARAM_FILE.read_text()))
    params = bm.load("main.bicep").declarations("param")
    declared = {p.name for p in params}
    assert assigned <= declared, assigned - declared
    # a parameter without a default is `param name type` (three named children)
    required = {p.name for p in params if len([c for c in p.node.children if c.is_named]) == 2}
    assert required, "main.bicep should have required parameters (locations, prefix, key)"
    assert required <= assigned, required - assigned
