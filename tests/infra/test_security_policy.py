"""What a security reviewer checks: vault protection, network exposure per mode, storage
without shared keys, identity-only function apps."""

import pytest

from support import bicep_model as bm

MODES = ["private", "public"]


def _vault():
    file = bm.load("modules/vault.bicep")
    (vault,) = [r for r in file.resources("Microsoft.KeyVault/vaults") if not r.existing]
    return file, vault


def test_only_one_module_declares_key_vaults():
    declaring = [p.name for p in bm.bicep_files()
                 if any(not r.existing
                        for r in bm.BicepFile(p).resources("Microsoft.KeyVault/vaults"))]
    assert declaring == ["vault.bicep"]


def test_vault_uses_rbac_soft_delete_90_days_and_purge_protection():
    file, vault = _vault()
    ev = lambda path: bm.evaluate(vault.get(path), {}, file)  # noqa: E731
    assert ev("properties.enableRbacAuthorization") is True
    assert ev("properties.enableSoftDelete") is True
    assert ev("properties.softDeleteRetentionInDays") == 90
    assert ev("properties.enablePurgeProtection") is True
    assert "accessPolicies" not in bm.properties(vault.get("properties"))


@pytest.mark.parametrize("mode", MODES)
def test_vault_firewall_denies_by_default_in_both_modes(mode):
    file, vault = _vault()
    env = {"networkMode": mode}
    assert bm.evaluate(vault.get("properties.networkAcls.defaultAction"), env, file) == "Deny"


def test_private_mode_turns_vault_public_network_access_off():
    file, vault = _vault()
    access = vault.get("properties.publicNetworkAccess")
    assert bm.evaluate(access, {"networkMode": "private"}, file) == "Disabled"
    assert bm.evaluate(vault.get("properties.networkAcls.bypass"),
                       {"networkMode": "private"}, file) == "None"
    assert bm.evaluate(access, {"networkMode": "public"}, file) == "Enabled"


def test_vault_audit_logs_go_to_log_analytics():
    file = bm.load("modules/vault.bicep")
    (diag,) = file.resources("Microsoft.Insights/diagnosticSettings")
    assert bm.text(diag.get("scope")) == "vault"
    assert bm.text(diag.get("properties.workspaceId")) == "workspaceId"
    assert "'audit'" in bm.text(diag.get("properties.logs"))


def test_storage_accounts_refuse_shared_keys_anonymous_blobs_and_old_tls():
    file = bm.load("modules/storage.bicep")
    (account,) = file.resources("Microsoft.Storage/storageAccounts")
    ev = lambda path: bm.evaluate(account.get(path), {}, file)  # noqa: E731
    assert ev("properties.allowSharedKeyAccess") is False
    assert ev("properties.allowBlobPublicAccess") is False
    assert ev("properties.minimumTlsVersion") == "TLS1_2"
    assert ev("properties.networkAcls.defaultAction") == "Deny"
    assert ev("properties.networkAcls.ipRules") == []


@pytest.mark.parametrize("mode", MODES)
def test_runtime_storage_is_private_only_in_private_mode(mode):
    region = bm.load("modules/region.bicep")
    (runtime,) = [m for m in region.modules("storage.bicep") if m.name == "runtimeStorage"]
    env = {"networkMode": mode}
    access = bm.evaluate(runtime.get("params.publicNetworkAccess"), env, region)
    subnets = runtime.get("params.allowedSubnetIds")
    if mode == "private":
        assert access == "Disabled"
        assert bm.evaluate(subnets, env, region) == []
    else:
        assert access == "Enabled"
        assert bm.text(subnets) != "[]"


def test_events_storage_admits_only_the_event_grid_system_topic_in_private_mode():
    region = bm.load("modules/region.bicep")
    (events,) = [m for m in region.modules("storage.bicep") if m.name == "eventsStorage"]
    assert bm.evaluate(events.get("params.allowedSubnetIds"), {"networkMode": "private"},
                       region) == []
    assert bm.text(events.get("params.trustedResourceIds")).split() == ["[", "systemTopicId", "]"]


def test_private_mode_creates_private_endpoints_for_vaults_and_all_durable_storage_services():
    main = bm.load("main.bicep")
    (links,) = main.modules("modules/privateLinks.bicep")
    assert bm.text(links.condition) == "(isPrivate)"
    assert bm.evaluate(main.named("var", "isPrivate").value, {"networkMode": "private"}, main)
    vault_ids = bm.text(links.get("params.vaultIds"))
    assert "region[0].outputs.vaultId" in vault_ids and "region[1].outputs.vaultId" in vault_ids
    pl = bm.load("modules/privateLinks.bicep")
    groups = set(bm.properties(pl.named("var", "zoneNames").value))
    assert groups == {"vault", "blob", "queue", "table"}
    source = bm.text(pl.named("var", "endpoints").value)
    assert "['blob', 'queue', 'table']" in source
    assert "privatelink.vaultcore.azure.net" in bm.text(pl.named("var", "zoneNames").value)


@pytest.mark.parametrize("mode", MODES)
def test_function_app_inbound_is_restricted_in_private_mode(mode):
    file = bm.load("modules/functionApp.bicep")
    (site,) = file.resources("Microsoft.Web/sites")
    default = bm.evaluate(site.get("properties.siteConfig.ipSecurityRestrictionsDefaultAction"),
                          {"networkMode": mode}, file)
    assert default == ("Deny" if mode == "private" else "Allow")
    private_rules = bm.text(file.named("var", "privateInbound").value)
    assert "'ActionGroup'" in private_rules


def test_function_app_is_flex_consumption_python_311_with_managed_identity():
    file = bm.load("modules/functionApp.bicep")
    (plan,) = file.resources("Microsoft.Web/serverfarms")
    assert bm.evaluate(plan.get("sku.name"), {}) == "FC1"
    (site,) = file.resources("Microsoft.Web/sites")
    ev = lambda path: bm.evaluate(site.get(path), {}, file)  # noqa: E731
    assert ev("identity.type") == "SystemAssigned"
    assert ev("properties.httpsOnly") is True
    assert ev("properties.functionAppConfig.runtime") == {"name": "python", "version": "3.11"}
    auth = ev("properties.functionAppConfig.deployment.storage.authentication.type")
    assert auth == "SystemAssignedIdentity"
    assert ev("properties.siteConfig.ftpsState") == "Disabled"
    assert bm.text(site.get("properties.virtualNetworkSubnetId")) == "appSubnetId"
    policies = file.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert sorted(bm.evaluate(p.get("name"), {}) for p in policies) == ["ftp", "scm"]
    assert all(bm.evaluate(p.get("properties.allow"), {}) is False for p in policies)


def test_host_storage_is_identity_based_and_no_template_holds_an_account_key():
    file = bm.load("modules/functionApp.bicep")
    (settings,) = file.resources("Microsoft.Web/sites/config")
    platform = bm.text(settings.get("properties"))
    assert "AzureWebJobsStorage__accountName" in platform
    assert "AzureWebJobsStorage:" not in platform
    # Flex Consumption rejects these; the runtime comes from functionAppConfig
    assert "FUNCTIONS_WORKER_RUNTIME" not in platform
    for path in bm.bicep_files():
        source = path.read_text()
        assert "AccountKey=" not in source, path.name
        assert "listKeys(storage" not in source and ".listKeys()" not in source, path.name


def test_monitoring_disables_local_authentication():
    file = bm.load("modules/monitoring.bicep")
    (ai,) = file.resources("Microsoft.Insights/components")
    assert bm.evaluate(ai.get("properties.DisableLocalAuth"), {}) is True
    (law,) = file.resources("Microsoft.OperationalInsights/workspaces")
    assert bm.evaluate(law.get("properties.features.disableLocalAuth"), {}) is True
