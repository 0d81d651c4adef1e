"""azure.yaml provisions infra/bicep/main.bicep and deploys the app to both regions."""

import re

from support import bicep_model as bm

AZURE_YAML = (bm.REPO / "azure.yaml").read_text()


def _service_block(name: str) -> str:
    match = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n)+)", AZURE_YAML, re.M)
    assert match, f"service {name} missing"
    return match.group(1)


def test_infra_points_at_the_bicep_main_module():
    infra = re.search(r"^infra:\n((?:  .*\n)+)", AZURE_YAML, re.M).group(1)
    assert "provider: bicep" in infra
    assert "path: infra/bicep" in infra
    assert "module: main" in infra


def test_both_regions_apps_are_deploy_targets_bound_to_template_outputs():
    outputs = {o.name for o in bm.load("main.bicep").declarations("output")}
    for service, output in (("kvdr", "SERVICE_KVDR"), ("kvdr-secondary", "SERVICE_KVDR_SECONDARY")):
        block = _service_block(service)
        assert "project: .\n" in block and "language: python" in block
        assert "host: function" in block
        assert f"resourceName: ${{{output}_NAME}}" in block
        assert f"resourceGroup: ${{{output}_RESOURCE_GROUP}}" in block
        assert {f"{output}_NAME", f"{output}_RESOURCE_GROUP"} <= outputs


def test_hooks_exist_and_the_postdeploy_hook_wires_event_subscriptions():
    for script in re.findall(r"run: (\S+)", AZURE_YAML):
        assert (bm.REPO / script).is_file(), script
    postdeploy = (bm.REPO / "infra/scripts/postdeploy.sh").read_text()
    assert "azd env set APP_CODE_DEPLOYED true" in postdeploy
    param_file = (bm.BICEP_DIR / "main.bicepparam").read_text()
    assert "readEnvironmentVariable('APP_CODE_DEPLOYED'" in param_file


def test_outputs_name_vaults_apps_runbook_and_alert_endpoints():
    outputs = {o.name: bm.text(o.node) for o in bm.load("main.bicep").declarations("output")}
    for name in ("vaultUrls", "appHostNames", "runbookEndpoints", "alertEndpoints"):
        assert name in outputs
    assert "code=" not in outputs["alertEndpoints"]  # keys are never outputs


def test_every_main_parameter_is_documented_in_the_deployment_guide():
    doc = (bm.REPO / "docs" / "deployment.md").read_text()
    undocumented = [p.name for p in bm.load("main.bicep").declarations("param")
                    if f"`{p.name}`" not in doc]
    assert undocumented == []
