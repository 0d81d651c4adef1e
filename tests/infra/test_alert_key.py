"""The alert webhook's key: created only after the roles and private links the Functions host
needs to store it, scoped to the alert function alone, and the same value at every provision."""

import ast
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from support import bicep_model as bm

KEY_TYPE = re.compile(r"^Microsoft\.Web/sites/(host|functions)/\w*keys$", re.I)
ALERTS_PY = bm.REPO / "triggers" / "alerts.py"
PREPROVISION = bm.REPO / "infra" / "scripts" / "preprovision.sh"
POSTDOWN = bm.REPO / "infra" / "scripts" / "postdown.sh"


def _list_keys_calls(node) -> list:
    found, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.type == "call_expression" and \
                bm.text(n.child_by_field_name("function")).lower() == "listkeys":
            found.append(n)
        stack.extend(n.children)
    return found


def _key_operations(graph: bm.DependencyGraph) -> list[bm.Ref]:
    """Every key resource and every resource or module that calls listKeys() (directly or
    through a var)."""
    found = []
    for rel, file in graph.files.items():
        variables = {v.name: v for v in file.declarations("var")}
        for decl in file.declarations():
            if decl.kind not in ("resource", "module"):
                continue
            used = bm.referenced_names(bm.expression_of(decl))
            reads_keys = _list_keys_calls(decl.node) or any(
                _list_keys_calls(variables[name].node) for name in used & variables.keys())
            if KEY_TYPE.match(decl.resource_type) or reads_keys:
                found.append(bm.Ref(rel, decl.name))
    return found


def _alert_key():
    file = bm.load("modules/alerts.bicep")
    (key,) = file.resources("Microsoft.Web/sites/functions/keys")
    return file, key


def test_every_key_operation_waits_for_runtime_storage_roles_and_private_links():
    graph = bm.DependencyGraph()
    operations = _key_operations(graph)
    assert operations, "the alert webhook needs a key operation"
    links = graph.files["modules/privateLinks.bicep"]
    required = {bm.Ref("modules/access.bicep", "appOnRuntimeStorage")} | {
        bm.Ref("modules/privateLinks.bicep", d.name) for d in links.declarations("resource")}
    assert len(required) >= 4  # roles, DNS zones, VNet links, endpoints, zone groups
    for operation in operations:
        missing = required - graph.waits_for(operation)
        assert not missing, f"{operation} runs before {sorted(m.name for m in missing)}"


def test_runtime_storage_roles_are_the_ones_the_ordering_relies_on():
    access = bm.load("modules/access.bicep")
    roles = access.named("resource", "appOnRuntimeStorage")
    assert bm.text(roles.get("scope")) == "runtimeStorage"
    assert bm.text(roles.get("properties.principalId")) == "appPrincipalId"


def test_alert_key_is_created_only_once_the_alert_function_exists():
    # The host refuses a function key for a function it does not know (404), and on the first
    # provision no code is deployed yet; azd's postdeploy hook provisions again.
    file, key = _alert_key()
    assert bm.evaluate(key.condition, {"alertFunctionDeployed": False}, file) is False
    assert bm.evaluate(key.condition, {"alertFunctionDeployed": True}, file) is True
    (module,) = bm.load("main.bicep").modules("modules/alerts.bicep")
    assert bm.text(module.get("params.alertFunctionDeployed")) == "appCodeDeployed"
    postdeploy = PREPROVISION.with_name("postdeploy.sh").read_text()
    assert '[ "$delivery" = "function" ] &&' not in postdeploy  # every mode provisions again


def test_action_group_calls_the_alert_function_with_its_own_function_key_only():
    file, key = _alert_key()
    assert bm.text(key.get("parent")) == "alertFunction"
    function = file.named("resource", "alertFunction")
    assert function.existing and function.resource_type == "Microsoft.Web/sites/functions"
    assert bm.text(function.get("parent")) == "app"
    assert bm.text(function.get("name")) == "alertFunctionName"
    (group,) = file.resources("Microsoft.Insights/actionGroups")
    uri = bm.text(group.get("properties.webhookReceivers"))
    # the webhook's code is exactly the value the alert function's key resource sets
    assert re.findall(r"\?code=\$\{([^}]*)\}", uri) == ["alertKey"]
    assert bm.text(key.get("value")) == "alertKey"
    for host_key in ("listKeys", "/host/", "masterKey", "functionKeys", "systemKeys", "_master"):
        assert host_key not in uri, host_key
    assert "alertFunctionKey" in bm.text(group.get("dependsOn"))
    assert not _list_keys_calls(file.tree.root_node), "no key is read back from the host"
    source = "\n".join(p.read_text() for p in bm.bicep_files())
    assert "sites/host/functionKeys" not in source  # a host key opens approve/failover/failback


def test_alert_function_name_is_the_python_alert_webhook_function():
    (module,) = bm.load("main.bicep").modules("modules/alerts.bicep")
    main = bm.load("main.bicep")
    name = bm.evaluate(module.get("params.alertFunctionName"), {}, main)
    tree = ast.parse(ALERTS_PY.read_text())
    routed = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "route" and \
                        any(k.arg == "route" and getattr(k.value, "value", None) == "alerts"
                            for k in deco.keywords):
                    routed.append(node)
    (handler,) = routed
    renamed = [d for d in handler.decorator_list
               if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "function_name"]
    assert not renamed and handler.name == name == "alert_webhook"


def test_alert_key_value_is_a_secure_parameter_kept_in_the_azd_environment():
    file, key = _alert_key()
    assert bm.text(key.get("value")) == "alertKey"  # a key without a value rotates every time
    assert bm.secure(file.named("param", "alertKey"))
    main = bm.load("main.bicep")
    (module,) = main.modules("modules/alerts.bicep")
    assert bm.text(module.get("params.alertKey")) == "alertWebhookKey"
    param = main.named("param", "alertWebhookKey")
    assert bm.secure(param) and "@minLength(32)" in param.decorators
    assert len([c for c in param.node.children if c.is_named]) == 2, "no default: never generated"
    for generated in ("newGuid", "uniqueString", "guid(", "utcNow"):
        assert generated not in bm.text(param.node)
    param_file = (bm.BICEP_DIR / "main.bicepparam").read_text()
    assert "param alertWebhookKey = readEnvironmentVariable('ALERT_WEBHOOK_KEY')" in param_file


FAKE_AZD = """#!/bin/sh
# records `azd env set` into $AZD_ENV_FILE and answers `azd env get-value` from it
set -eu
case "$1 $2" in
  "env get-value") line=$(grep "^$3=" "$AZD_ENV_FILE" || true)
                   [ -n "$line" ] || { echo "ERROR: key '$3' not found" >&2; exit 1; }
                   printf '%s\\n' "${line#*=}" ;;
  "env set") grep -v "^$3=" "$AZD_ENV_FILE" > "$AZD_ENV_FILE.tmp" || true
             mv "$AZD_ENV_FILE.tmp" "$AZD_ENV_FILE"
             printf '%s=%s\\n' "$3" "$4" >> "$AZD_ENV_FILE" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def azd_env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    azd = bin_dir / "azd"
    azd.write_text(FAKE_AZD)
    azd.chmod(azd.stat().st_mode | stat.S_IEXEC)
    env_file = tmp_path / ".env"
    env_file.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AZD_ENV_FILE": str(env_file)}

    def provision(hook: Path = PREPROVISION) -> dict[str, str]:
        done = subprocess.run(["sh", str(hook)], env=env, capture_output=True,
                              text=True, check=True)
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        for value in values.values():
            if len(value) >= 32:
                assert value not in done.stdout + done.stderr, "a generated key was printed"
        return values

    return provision


def test_preprovision_generates_the_alert_key_once_and_keeps_it(azd_env):
    first = azd_env()
    key = first["ALERT_WEBHOOK_KEY"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)  # URL-safe: it travels in ?code=
    assert first["ALERT_WEBHOOK_KEY"] != first["KVDR_FINGERPRINT_KEY"]
    second = azd_env()
    assert second["ALERT_WEBHOOK_KEY"] == key
    assert second["KVDR_FINGERPRINT_KEY"] == first["KVDR_FINGERPRINT_KEY"]


def test_azd_down_forgets_the_code_deployment_but_keeps_the_generated_keys(azd_env):
    # After `azd down` the next `azd up` creates apps without code: provisioning the alert key
    # with APP_CODE_DEPLOYED still true would ask the new host for a function it lacks (404).
    azure_yaml = (bm.REPO / "azure.yaml").read_text()
    hook = r"^  postdown:\n    shell: sh\n    run: infra/scripts/postdown.sh$"
    assert re.search(hook, azure_yaml, re.MULTILINE)
    first = azd_env()
    after_down = azd_env(POSTDOWN)
    assert after_down["APP_CODE_DEPLOYED"] == "false"
    assert after_down["ALERT_WEBHOOK_KEY"] == first["ALERT_WEBHOOK_KEY"]
    assert after_down["KVDR_FINGERPRINT_KEY"] == first["KVDR_FINGERPRINT_KEY"]
