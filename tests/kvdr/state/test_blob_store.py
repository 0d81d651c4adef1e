"""BlobStateStore specifics: how it is found from app settings, blob properties, container
creation, and optimistic concurrency against a real Azurite."""

from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.blob import ContainerClient

from kvdr.errors import ConfigError
from kvdr.state.blob import DEV_ACCOUNT_KEY, BlobStateStore, state_store_from_env
from kvdr.state.store import StateConflictError


class StaticCredential:
    def get_token(self, *scopes, **kwargs):  # never called: no request is made
        raise AssertionError("unexpected token request")


# --- from app settings (no network) -------------------------------------------------------------


def test_identity_based_account_name_targets_the_public_blob_endpoint():
    store = BlobStateStore.from_settings(
        {"AzureWebJobsStorage__accountName": "stkvdreus",
         "AzureWebJobsStorage__credential": "managedidentity"}, credential=StaticCredential())
    assert store.container.url == "https://stkvdreus.blob.core.windows.net/kvdr-state"


def test_blob_service_uri_wins_over_account_name():
    store = BlobStateStore.from_settings(
        {"AzureWebJobsStorage__blobServiceUri": "https://stkvdr.privatelink.example/",
         "AzureWebJobsStorage__accountName": "ignored"},
        credential=StaticCredential(), container="other")
    assert store.container.url == "https://stkvdr.privatelink.example/other"


def test_identity_without_a_client_id_uses_default_azure_credential():
    store = BlobStateStore.from_settings({"AzureWebJobsStorage__accountName": "stkvdreus"})
    assert isinstance(store._owned_credential, DefaultAzureCredential)
    store.close()


def test_a_client_id_selects_that_user_assigned_managed_identity():
    store = BlobStateStore.from_settings(
        {"AzureWebJobsStorage__accountName": "stkvdreus",
         "AzureWebJobsStorage__credential": "managedidentity",
         "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-00000000abcd"})
    assert isinstance(store._owned_credential, ManagedIdentityCredential)
    store.close()


def test_use_development_storage_means_azurite_on_its_default_port():
    store = BlobStateStore.from_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert store.container.url == "http://127.0.0.1:10000/devstoreaccount1/kvdr-state"
    assert store.container.credential.account_name == "devstoreaccount1"


def test_state_store_from_env_is_the_blob_store():
    store = state_store_from_env({"AzureWebJobsStorage__accountName": "stkvdreus",
                                  "AzureWebJobsStorage__clientId": "id"})
    assert isinstance(store, BlobStateStore)
    assert store.container.container_name == "kvdr-state"


@pytest.mark.parametrize("env", [{}, {"AzureWebJobsStorage": "  "},
                                 {"AzureWebJobsStorage__accountName": ""}])
def test_no_usable_setting_is_a_config_error_naming_the_setting(env):
    with pytest.raises(ConfigError) as info:
        state_store_from_env(env)
    assert info.value.code == "config.missing"
    assert info.value.setting == "AzureWebJobsStorage"
    assert "AzureWebJobsStorage__accountName" in info.value.message


@pytest.mark.parametrize(("env", "setting"), [
    ({"AzureWebJobsStorage__accountName": "Not_An_Account"}, "AzureWebJobsStorage__accountName"),
    ({"AzureWebJobsStorage__blobServiceUri": "stkvdr.blob.core.windows.net"},
     "AzureWebJobsStorage__blobServiceUri"),
    ({"AzureWebJobsStorage__blobServiceUri": "http://stkvdr.blob.core.windows.net"},
     "AzureWebJobsStorage__blobServiceUri"),
    ({"AzureWebJobsStorage__blobServiceUri": "https://stkvdr.blob.core.windows.net/?sv=x&sig=y"},
     "AzureWebJobsStorage__blobServiceUri"),
])
def test_an_unusable_identity_setting_is_a_config_error_naming_it(env, setting):
    with pytest.raises(ConfigError) as info:
        state_store_from_env(env)
    assert info.value.setting == setting


def test_a_bad_connection_string_is_a_config_error_that_does_not_echo_it():
    conn = f"AccountKey={DEV_ACCOUNT_KEY}"  # no account, no endpoint
    with pytest.raises(ConfigError) as info:
        state_store_from_env({"AzureWebJobsStorage": conn})
    assert info.value.setting == "AzureWebJobsStorage"
    assert DEV_ACCOUNT_KEY not in str(info.value)


# --- against Azurite ----------------------------------------------------------------------------


def test_values_are_utf8_json_blobs(azurite):
    store = azurite.store()
    store.put_json("sync/last-report.json", {"text": "ü"})
    blob = store.container.get_blob_client("sync/last-report.json")
    assert blob.get_blob_properties().content_settings.content_type == "application/json"
    assert blob.download_blob().readall() == '{"text":"ü"}'.encode()


def test_the_container_is_created_when_missing_and_an_existing_one_is_reused(azurite):
    container = "t-shared-container"
    first = azurite.store(container)
    first.put_json("a.json", 1)
    ContainerClient.from_connection_string(azurite.connection_string, container).exists()
    second = azurite.store(container)
    assert second.get_json("a.json") == 1


def test_update_json_retries_when_another_writer_changes_the_blob(azurite):
    store = azurite.store()
    other = BlobStateStore(store.container)
    store.put_json("events/stats.json", {"received": 1})
    calls = []

    def bump(current):
        calls.append(current["received"])
        if len(calls) == 1:  # a concurrent writer lands between our read and our write
            other.put_json("events/stats.json", {"received": 10})
        return {"received": current["received"] + 1}

    assert store.update_json("events/stats.json", bump) == {"received": 11}
    assert calls == [1, 10]
    assert store.get_json("events/stats.json") == {"received": 11}


def test_update_json_retries_when_another_writer_creates_the_blob_first(azurite):
    store = azurite.store()
    calls = []

    def create(current):
        calls.append(current)
        if current is None:
            store.put_json("k.json", {"by": "other"})
        return {"by": "me", "saw": current}

    assert store.update_json("k.json", create) == {"by": "me", "saw": {"by": "other"}}
    assert calls == [None, {"by": "other"}]


def test_update_json_gives_up_after_max_attempts(azurite):
    store = azurite.store(max_attempts=3)
    store.put_json("k.json", 0)
    calls = []

    def always_raced(current):
        calls.append(current)
        store.put_json("k.json", len(calls) * 100)
        return -1

    with pytest.raises(StateConflictError) as info:
        store.update_json("k.json", always_raced)
    assert info.value.code == "state.conflict"
    assert len(calls) == 3
    assert store.get_json("k.json") == 300
