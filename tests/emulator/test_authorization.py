"""Per-vault roles and Key Vault's RBAC answer to a missing permission."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyType

from emulator.authorization import data_action, parse_roles
from emulator.testing import Emulator


def _forbidden(call) -> dict:
    with pytest.raises(HttpResponseError) as err:
        call()
    assert err.value.status_code == 403
    return json.loads(err.value.response.text())["error"]


def test_a_per_vault_role_lets_a_token_write_one_vault_and_only_read_the_other(
        kv_emulator_factory) -> None:
    emu: Emulator = kv_emulator_factory(["east", "west"], roles={
        "replicator": {"east": "full", "west": "read"}, "admin": "full"})
    with (emu.secret_client("east", token="replicator") as east,
          emu.secret_client("west", token="replicator") as west,
          emu.secret_client("west", token="admin") as west_admin):
        east.set_secret("db", "v1")
        west_admin.set_secret("db", "v0")
        assert west.get_secret("db").value == "v0"
        error = _forbidden(lambda: west.set_secret("db", "v1"))
    assert error["code"] == "Forbidden"
    assert error["innererror"] == {"code": "ForbiddenByRbac"}
    assert "Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'" in error["message"]
    assert "Vault: west;" in error["message"]
    assert emu.count("west", "SetSecret", 403) == 1
    assert emu.count("west", "SetSecret", 200) == 1  # the admin's only


def test_a_vault_left_out_of_a_per_vault_grant_refuses_even_reads(kv_emulator_factory) -> None:
    emu: Emulator = kv_emulator_factory(["east", "west"], roles={"t": {"east": "read"}})
    with emu.secret_client("west", token="t") as west:
        error = _forbidden(lambda: west.get_secret("anything"))
    assert "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'" in error["message"]


def test_the_action_named_is_the_operation_s_for_keys_and_certificates(
        kv_emulator_factory) -> None:
    emu: Emulator = kv_emulator_factory(["v"], roles={"reader": "read"})
    with emu.key_client("v", token="reader") as keys:
        error = _forbidden(lambda: keys.create_key("k", KeyType.rsa))
    assert "'Microsoft.KeyVault/vaults/keys/create/action'" in error["message"]
    with emu.certificate_client("v", token="reader") as certificates:
        error = _forbidden(lambda: certificates.update_certificate_properties("c", enabled=False))
    assert "'Microsoft.KeyVault/vaults/certificates/update/action'" in error["message"]


def test_data_actions_of_reads_and_writes() -> None:
    assert data_action("GetSecrets", "secrets").endswith("/secrets/readMetadata/action")
    assert data_action("BackupKey", "keys").endswith("/keys/backup/action")
    assert data_action("GetCertificate", "certificates").endswith("/certificates/read")


@pytest.mark.parametrize("raw", [{"t": "write"}, {"t": {}}, {"t": {"east": "owner"}}, {"t": 1}])
def test_a_roles_document_with_an_unknown_role_is_refused_naming_the_token(raw) -> None:
    with pytest.raises(ValueError, match="token 't'"):
        parse_roles(raw)
