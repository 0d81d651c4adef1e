"""VaultSession: pacing budgets per request, one pacer per vault per process, error codes,
inventory contents, credentials."""

from __future__ import annotations

import pytest

from kvdr.errors import ConfigError, VaultError
from kvdr.vault.credentials import LocalTokenCredential, credential_for
from kvdr.vault.inventory import ItemKind, item_key
from kvdr.vault.pacing import Operation
from kvdr.vault.pipeline import default_pacers, operation_for
from kvdr.vault.session import VaultSession, version_token
from support.vaults import emulator_config

BASE = "https://127.0.0.1:8443"


@pytest.mark.parametrize(("method", "path", "operation"), [
    ("PUT", "/secrets/db", Operation.WRITE),
    ("POST", "/secrets/restore", Operation.WRITE),
    ("POST", "/certificates/web/import", Operation.WRITE),
    ("POST", "/certificates/web/create", Operation.WRITE),
    ("POST", "/keys/k/create", Operation.KEY_CREATE),
    ("POST", "/keys/restore", Operation.KEY_CREATE),
    ("PUT", "/keys/k", Operation.WRITE),
    ("GET", "/secrets", Operation.READ),
    ("PATCH", "/secrets/db/abc", Operation.READ),
    ("POST", "/keys/k/backup", Operation.READ),
    ("DELETE", "/secrets/db", Operation.READ),
])
def test_each_request_spends_the_right_pacer_budget(method, path, operation) -> None:
    assert operation_for(method, f"{BASE}{path}?api-version=7.5") == operation


def test_sessions_of_one_vault_in_one_process_share_its_pacer(config) -> None:
    a = VaultSession(config, "east")
    b = VaultSession(config, "east")
    try:
        assert a.pacer is b.pacer is default_pacers(config.pacing).for_vault(a.url)
        assert isinstance(a.credential, LocalTokenCredential)
    finally:
        a.close()
        b.close()


def test_inventory_reads_props_managed_flags_thumbprints_and_deleted_names(
        sessions, unique) -> None:
    east = sessions["east"]
    cert, gone = unique("inv-cert"), unique("inv-gone")
    from azure.keyvault.certificates import CertificatePolicy
    east.certificates.begin_create_certificate(cert, CertificatePolicy.get_default()).result()
    east.secrets.set_secret(gone, "value-gone")
    east.secrets.begin_delete_secret(gone).wait()
    inventory = east.inventory()
    assert inventory.complete
    c = inventory.get(ItemKind.CERTIFICATE, cert)
    assert c is not None and len(c.thumbprint or "") == 40 and c.version.startswith("c")
    assert inventory.get(ItemKind.SECRET, cert).managed
    assert inventory.get(ItemKind.SECRET, gone) is None
    assert item_key(ItemKind.SECRET, gone) in inventory.deleted
    assert east.item(ItemKind.SECRET, cert).managed
    assert east.is_deleted(ItemKind.SECRET, gone)


def test_sdk_errors_become_stable_vault_codes_without_values(sessions, unique,
                                                             kv_emulator) -> None:
    east = sessions["east"]
    name = unique("err")
    with pytest.raises(VaultError) as missing:
        east.call(f"read secret '{name}'", east.secrets.get_secret, name)
    assert missing.value.code == "vault.not_found" and missing.value.status == 404
    east.secrets.set_secret(name, "value-err", enabled=False)
    with pytest.raises(VaultError) as disabled:
        east.call(f"read secret '{name}'", east.secrets.get_secret, name)
    assert disabled.value.code == "vault.forbidden"
    east.secrets.update_secret_properties(name, enabled=True)
    east.secrets.begin_delete_secret(name).wait()
    with pytest.raises(VaultError) as deleted:
        east.call(f"set secret '{name}'", east.secrets.set_secret, name, "value-err-2")
    assert deleted.value.code == "vault.deleted_but_recoverable"
    assert "value-err" not in str(deleted.value)


def test_an_unreachable_vault_is_vault_unreachable(kv_emulator_factory, make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west"])
    sessions = make_sessions(emulator_config(emu))
    emu.down("west")
    with pytest.raises(VaultError) as err:
        sessions["west"].inventory()
    assert err.value.code == "vault.unreachable"


def test_a_credential_that_fails_mid_run_is_vault_unauthenticated_not_unavailable(
        config, unique) -> None:
    # A managed identity whose token request fails raises ClientAuthenticationError without an
    # HTTP status; it is an identity problem, not "the vault answered with a server error".
    from azure.core.exceptions import ClientAuthenticationError

    class FailingCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise ClientAuthenticationError("ManagedIdentityCredential: token request failed")

    east = VaultSession(config, "east", credential=FailingCredential())  # type: ignore[arg-type]
    try:
        with pytest.raises(VaultError) as err:
            east.item(ItemKind.SECRET, unique("auth"))
    finally:
        east.close()
    assert err.value.code == "vault.unauthenticated"
    assert "identity" in err.value.message


def test_the_static_credential_serves_loopback_vaults_only(config, app_settings) -> None:
    assert isinstance(credential_for(config), LocalTokenCredential)
    with pytest.raises(ConfigError):
        LocalTokenCredential(("https://kv-east.vault.azure.net/",))


def test_the_latest_of_two_secret_versions_of_one_second_is_the_one_the_service_names(
        sessions, unique) -> None:
    """A version list dates versions to the second: two versions of one second tie there, and
    only a get says which is the latest — the event path aligned a copy's tags to the older one
    of such a pair (found by the faults-at-volume suite)."""
    east = sessions["east"]
    name = unique("tie")
    for _ in range(20):  # until two versions land in one second
        first = east.secrets.set_secret(name, "v-one", tags={"round": "1"})
        second = east.secrets.set_secret(name, "v-two", tags={"round": "2"})
        if version_token(first.properties.created_on) == \
                version_token(second.properties.created_on):
            break
    else:
        pytest.fail("no two versions landed in one second in 20 tries")
    latest = east.latest_secret_properties(name)
    assert latest is not None and latest.version == second.properties.version
    assert latest.tags == {"round": "2"}
