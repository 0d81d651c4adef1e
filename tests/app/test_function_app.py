"""The DFApp indexes the way the Functions host indexes it, with sane bindings."""

import ast
import re
from pathlib import Path

import azure.durable_functions as df

import function_app
from kvdr.catalogue import (
    ACTIVE_STATUSES,
    RUNBOOKS,
    Activity,
    Orchestrator,
    RuntimeStatus,
    is_active,
)

VALID_TRIGGERS = {"httpTrigger", "orchestrationTrigger", "activityTrigger", "eventGridTrigger",
                  "timerTrigger", "queueTrigger", "entityTrigger"}


# get_functions() indexes once per app (a second call reports every name as a duplicate, as
# the host would never call it twice), so index once for the module.
FUNCTIONS = function_app.app.get_functions()


def _functions():
    return {f.get_function_name(): f for f in FUNCTIONS}


def test_every_function_has_exactly_one_known_trigger():
    functions = _functions()
    assert functions, "the DFApp registers no function"
    for name, fn in functions.items():
        bindings = fn.get_bindings_dict()["bindings"]
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        assert len(triggers) == 1, f"{name} has triggers {triggers}"
        assert triggers[0]["type"] in VALID_TRIGGERS, name


def test_http_functions_require_a_function_key():
    for name, fn in _functions().items():
        for b in fn.get_bindings_dict()["bindings"]:
            if b["type"] == "httpTrigger":
                assert str(b["authLevel"].value if hasattr(b["authLevel"], "value")
                           else b["authLevel"]).lower() == "function", name


def test_function_names_are_unique_across_blueprints():
    names = [f.get_function_name() for f in FUNCTIONS]
    assert len(names) == len(set(names))


def _http_routes() -> list[tuple[re.Pattern[str], set[str]]]:
    routes = []
    for fn in FUNCTIONS:
        for b in fn.get_bindings_dict()["bindings"]:
            if b["type"] == "httpTrigger":
                pattern = re.sub(r"\{[^}]+\}", "[^/]+", b.get("route") or fn.get_function_name())
                methods = {str(getattr(m, "value", m)).upper() for m in b.get("methods") or ()}
                routes.append((re.compile(pattern + "$"), methods))
    return routes


def _served(method: str, path: str) -> bool:
    return any(p.match(path) and (not methods or method in methods)
               for p, methods in _http_routes())


def test_every_api_path_the_templates_and_docs_call_is_served_by_the_app():
    """The alert webhook in Bicep, and the curl lines of the deployment guide, must reach a
    function (a 404 there is an outage nobody sees until a region fails)."""
    root = Path(__file__).resolve().parents[2]
    bicep = "\n".join(p.read_text() for p in (root / "infra" / "bicep").rglob("*.bicep"))
    called = [("POST", m) for m in re.findall(r"/api/(alerts)\b", bicep)]
    assert called, "the templates no longer call /api/alerts: update this test"
    guide = (root / "docs" / "deployment.md").read_text()
    for line in re.findall(r"curl[^\n]*", guide):
        path = re.search(r"/api/([\w/<>{}-]+)", line)
        if path:
            method = "POST" if "-X POST" in line else "GET"
            called.append((method, re.sub(r"<[^>]+>", "x", path.group(1)).rstrip("/")))
    missing = [f"{m} /api/{p}" for m, p in called if not _served(m, p)]
    assert not missing, f"not served by any function: {missing}"


def _names_by_trigger(trigger: str) -> set[str]:
    return {name for name, fn in _functions().items()
            if any(b["type"] == trigger for b in fn.get_bindings_dict()["bindings"])}


def test_every_catalogue_name_is_a_function_the_app_registers_and_no_other():
    """The catalogue's names are the Durable function names: a renamed function, or one added
    without its catalogue entry, would start nothing (or an unknown function)."""
    assert {str(o) for o in Orchestrator} == _names_by_trigger("orchestrationTrigger")
    assert {str(a) for a in Activity} == _names_by_trigger("activityTrigger")
    for runbook in RUNBOOKS:
        assert runbook.orchestrator in Orchestrator
        assert runbook.blocked_by <= set(Orchestrator)


def test_the_active_statuses_are_the_durable_sdks():
    sdk = {s.value for s in df.OrchestrationRuntimeStatus}
    assert {str(s) for s in RuntimeStatus} <= sdk
    assert {str(s) for s in ACTIVE_STATUSES} == {"Pending", "Running", "Suspended"}
    assert is_active(df.OrchestrationRuntimeStatus.Suspended)
    assert not is_active(df.OrchestrationRuntimeStatus.Completed)
    assert is_active("Running") and not is_active("ContinuedAsNew")


# the calls that name a Durable function by its first argument
_NAMING_CALLS = {"call_activity", "call_activity_with_retry", "call_sub_orchestrator",
                 "call_sub_orchestrator_with_retry", "start_new"}


def _literal_function_names(folder: str) -> list[str]:
    root = Path(__file__).resolve().parents[2] / folder
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _NAMING_CALLS and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.append(f"{folder}/{path.name}:{node.lineno} {node.args[0].value!r}")
    return found


def test_orchestrators_and_triggers_name_functions_through_the_catalogue_only():
    literals = _literal_function_names("orchestrators") + _literal_function_names("triggers")
    assert not literals, f"function names as string literals (use kvdr.catalogue): {literals}"
