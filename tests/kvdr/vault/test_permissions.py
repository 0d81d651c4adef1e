"""kvdr's identity without a role on a vault: the error names the region, the action and the
role; the write check writes nothing; the emulator token is the loopback identity only."""

from __future__ import annotations

import tomllib

import pytest

from emulator.testing import Emulator
from kvdr.config.validate import validate_document
from kvdr.errors import VaultForbiddenError, VaultPermissionError, role_for_action, vault_error
from kvdr.vault.credentials import LocalTokenCredential, credential_for
from kvdr.vault.inventory import ItemKind
from kvdr.vault.permissions import PROBE_NAME, check_write
from kvdr.vault.session import VaultSession
from support.config_samples import VALID_TOML
from support.vaults import FAST_BACKOFF, emulator_config

ROLES = {"replicator": {"east": "full", "west": "read"}}


@pytest.fixture
def roles_emulator(kv_emulator_factory) -> Emulator:
    return kv_emulator_factory(["east", "west"], roles=ROLES)


def _session(emu: Emulator, region: str, token: str = "replicator") -> VaultSession:
    config = emulator_config(emu)
    return VaultSession(config, region, retry_backoff=FAST_BACKOFF,
                        credential=LocalTokenCredential((emu.url(region),), token))


def test_a_write_refused_by_rbac_names_the_region_action_and_role(roles_emulator) -> None:
    with _session(roles_emulator, "west") as west, pytest.raises(VaultPermissionError) as err:
        west.call("set secret 'db'", west.secrets.set_secret, "db", "v")
    exc = err.value
    assert exc.code == "vault.permission_denied" and exc.region == "west"
    assert exc.action == "Microsoft.KeyVault/vaults/secrets/setSecret/action"
    assert exc.role == "Key Vault Secrets Officer"
    assert "region west" in exc.message and "Key Vault Secrets Officer" in exc.message
    assert exc.to_dict()["role"] == "Key Vault Secrets Officer"


def test_the_write_check_passes_where_kvdr_may_write_and_writes_nothing(roles_emulator) -> None:
    with _session(roles_emulator, "east") as east:
        check_write(east, tuple(ItemKind))
        assert east.call_or_none("read", east.secrets.get_secret, PROBE_NAME) is None
    assert roles_emulator.count("east", "UpdateSecret", 404) == 1
    assert roles_emulator.count("east", "UpdateKey", 404) == 1
    assert roles_emulator.count("east", "UpdateCertificate", 404) == 1


@pytest.mark.parametrize(("kind", "role"), [
    (ItemKind.SECRET, "Key Vault Secrets Officer"),
    (ItemKind.CERTIFICATE, "Key Vault Certificates Officer"),
    (ItemKind.KEY, "Key Vault Crypto Officer")])
def test_the_write_check_refuses_a_read_only_vault_naming_the_kind_s_role(
        roles_emulator, kind: ItemKind, role: str) -> None:
    with _session(roles_emulator, "west") as west, pytest.raises(VaultPermissionError) as err:
        check_write(west, [kind])
    assert err.value.role == role and role in err.value.message


def test_a_403_without_a_missing_role_stays_vault_forbidden() -> None:
    # a disabled secret's value: Key Vault answers 403 with another inner code
    exc = vault_error(403, "SecretDisabled", what="read secret 'x'", region="east")
    assert type(exc) is VaultForbiddenError and exc.code == "vault.forbidden"


def test_access_policy_denials_are_permission_errors_too() -> None:
    exc = vault_error(403, "AccessDenied", what="set secret 'x'", region="east")
    assert exc.code == "vault.permission_denied" and "Secrets Officer" in exc.message


def test_roles_for_data_actions() -> None:
    base = "Microsoft.KeyVault/vaults/"
    assert role_for_action(base + "secrets/getSecret/action") == "Key Vault Secrets User"
    assert role_for_action(base + "certificates/import/action") == (
        "Key Vault Certificates Officer")
    assert role_for_action(base + "keys/backup/action") == "Key Vault Crypto Officer"
    assert role_for_action(base + "keyrotationpolicies/write") == "Key Vault Crypto Officer"
    assert role_for_action("Microsoft.Storage/whatever") is None
    assert role_for_action(None) is None


def test_the_emulator_token_is_used_for_loopback_vaults_only(roles_emulator) -> None:
    config = emulator_config(roles_emulator)
    credential = credential_for(config, {"KVDR_EMULATOR_TOKEN": "replicator"})
    assert isinstance(credential, LocalTokenCredential)
    assert credential.get_token("x").token == "replicator"
    assert credential_for(config, {}).get_token("x").token == "kvdr-local"


def test_the_emulator_token_never_stands_in_for_azure_credentials() -> None:
    document = tomllib.loads(VALID_TOML.replace("https://127.0.0.1:8443/",
                                                "https://kv-east.vault.azure.net/")
                             .replace("https://127.0.0.1:8444/",
                                      "https://kv-west.vault.azure.net/"))
    config = validate_document(document, base_dir=None, check_files=False)
    credential = credential_for(config, {"KVDR_EMULATOR_TOKEN": "replicator"})
    assert not isinstance(credential, LocalTokenCredential)


def test_the_write_check_names_every_role_missing_in_one_error(roles_emulator) -> None:
    with _session(roles_emulator, "west") as west, pytest.raises(VaultPermissionError) as err:
        check_write(west, tuple(ItemKind))
    for role in ("Key Vault Secrets Officer", "Key Vault Certificates Officer",
                 "Key Vault Crypto Officer"):
        assert role in err.value.message and role in (err.value.role or "")
    assert "region west" in err.value.message
