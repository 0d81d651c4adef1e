"""Least privilege: only documented built-in role definition ids, never Owner, Contributor or
a role that can grant roles; Crypto Officer only with key replication; each app on both vaults."""

import pytest

from support import bicep_model as bm

# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (ids are immutable)
BUILT_IN = {
    "keyVaultSecretsOfficer": ("Key Vault Secrets Officer", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"),
    "keyVaultCertificatesOfficer": ("Key Vault Certificates Officer",
                                    "a4417e6f-fecd-4de8-b567-7b0420556985"),
    "keyVaultCryptoOfficer": ("Key Vault Crypto Officer", "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"),
    "keyVaultReader": ("Key Vault Reader", "21090545-7ca7-4776-b22c-e363652d74d2"),
    "storageBlobDataOwner": ("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
    "storageBlobDataContributor": ("Storage Blob Data Contributor",
                                   "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
    "storageQueueDataContributor": ("Storage Queue Data Contributor",
                                    "974c5e8b-45b9-4653-ba55-5f855dd0fb88"),
    "storageQueueDataMessageSender": ("Storage Queue Data Message Sender",
                                      "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"),
    "storageQueueDataMessageProcessor": ("Storage Queue Data Message Processor",
                                         "8a0f0c08-91a1-4084-bc3d-661d67233fed"),
    "storageTableDataContributor": ("Storage Table Data Contributor",
                                    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"),
    "monitoringMetricsPublisher": ("Monitoring Metrics Publisher",
                                   "3913510d-42f4-4e42-8a64-420c390055eb"),
    "websiteContributor": ("Website Contributor", "de139f84-1756-47ae-9be6-808fbbe84772"),
}
FORBIDDEN = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
}


def _role_ids() -> dict:
    return bm.evaluate(bm.load("modules/roles.bicep").named("var", "roleIds").value, {})


def test_role_ids_are_the_documented_built_in_ids():
    assert _role_ids() == {key: guid for key, (_, guid) in BUILT_IN.items()}


def test_no_template_names_a_role_id_outside_the_documented_table():
    allowed = {guid for _, guid in BUILT_IN.values()}
    for path in bm.bicep_files():
        for guid in bm.GUID.findall(path.read_text()):
            assert guid.lower() not in FORBIDDEN, f"{path.name} grants {FORBIDDEN[guid.lower()]}"
            assert guid.lower() in allowed, f"{path.name}: unknown GUID {guid}"
            assert path.name == "roles.bicep", f"{path.name} hard-codes {guid}; use roleIds"


def _role_assignments():
    for path in bm.bicep_files():
        file = bm.BicepFile(path)
        yield from file.resources("Microsoft.Authorization/roleAssignments")


def test_every_role_assignment_uses_a_built_in_definition_id_from_roles_bicep():
    assignments = list(_role_assignments())
    assert len(assignments) >= 8
    for ra in assignments:
        definition = bm.text(ra.get("properties.roleDefinitionId"))
        assert definition.startswith(
            "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "), definition
        argument = definition.split(", ", 1)[1].rstrip(")")
        assert argument.startswith("roleIds.") or argument in {"grant.role", "role"}, definition
        if argument.startswith("roleIds."):
            assert argument.removeprefix("roleIds.") in BUILT_IN
        assert "principalType" in bm.properties(ra.get("properties"))
        assert "scope" in bm.properties(ra.body), f"{ra.file.rel}:{ra.name} has no narrow scope"


@pytest.mark.parametrize("key_replication", [True, False])
def test_crypto_officer_only_when_key_replication_is_enabled(key_replication):
    access = bm.load("modules/access.bicep")
    roles = bm.evaluate(access.named("var", "vaultRoles").value,
                        {"keyReplication": key_replication, "roleIds": _role_ids()}, access)
    ids = _role_ids()
    assert ids["keyVaultSecretsOfficer"] in roles
    assert ids["keyVaultCertificatesOfficer"] in roles
    assert (ids["keyVaultCryptoOfficer"] in roles) is key_replication
    main = bm.load("main.bicep")
    policy = bm.prop(main.named("var", "kvdrSettings").value, "KVDR_KEY_POLICY")
    assert bm.evaluate(policy, {"keyReplication": key_replication}) == \
        ("backup-restore" if key_replication else "report")


def test_both_apps_get_their_vault_roles_on_both_vaults():
    (module,) = bm.load("main.bicep").modules("modules/access.bicep")
    principals = bm.text(module.get("params.allAppPrincipalIds"))
    assert "region[0].outputs.appPrincipalId" in principals
    assert "region[1].outputs.appPrincipalId" in principals
    access = bm.load("modules/access.bicep")
    assert "allAppPrincipalIds" in bm.text(access.named("var", "vaultGrants").value)
    assert bm.text(access.named("resource", "appsOnVault").get("scope")) == "vault"


def test_operators_get_function_keys_on_the_apps_and_only_metadata_on_the_vaults():
    access = bm.load("modules/access.bicep")
    on_app = access.named("resource", "operatorsOnApp")
    assert bm.text(on_app.get("scope")) == "app"
    assert "roleIds.websiteContributor" in bm.text(on_app.get("properties.roleDefinitionId"))
    on_vault = access.named("resource", "operatorsOnVault")
    assert "roleIds.keyVaultReader" in bm.text(on_vault.get("properties.roleDefinitionId"))
    assert bm.text(on_vault.condition) == "(hasOperators)"


def test_event_grid_identity_gets_sender_and_dead_letter_roles_on_single_resources():
    file = bm.load("modules/eventGrid.bicep")
    scopes = {ra.name: bm.text(ra.get("scope"))
              for ra in file.resources("Microsoft.Authorization/roleAssignments")}
    assert scopes == {
        "topicSendsToQueue": "eventsStorage::queueService::queue",
        "topicWritesDeadLetters": "eventsStorage::blobService::deadLetter",
    }
