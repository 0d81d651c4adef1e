"""Secrets through the real SecretClient: every operation and every error path."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from emulator.testing import Emulator


@pytest.fixture
def client(kv_emulator: Emulator):  # type: ignore[no-untyped-def]
    with kv_emulator.secret_client("east") as c:
        yield c


def test_set_then_get_returns_the_value_and_metadata(client, name: str) -> None:
    created = client.set_secret(name, "v1", content_type="text/plain", tags={"team": "sre"})
    got = client.get_secret(name)
    assert got.value == "v1"
    assert got.properties.version == created.properties.version
    assert len(got.properties.version) == 32
    assert got.properties.content_type == "text/plain"
    assert got.properties.tags == {"team": "sre"}
    assert got.properties.enabled is True
    assert got.properties.recovery_level == "Recoverable+Purgeable"
    assert got.id == f"{client.vault_url.rstrip('/')}/secrets/{name}/{created.properties.version}"


def test_every_set_creates_a_new_version_and_get_by_version_works(client, name: str) -> None:
    first = client.set_secret(name, "one")
    second = client.set_secret(name, "two")
    assert first.properties.version != second.properties.version
    assert client.get_secret(name).value == "two"
    assert client.get_secret(name, first.properties.version).value == "one"
    versions = {p.version for p in client.list_properties_of_secret_versions(name)}
    assert versions == {first.properties.version, second.properties.version}


def test_update_properties_changes_metadata_without_a_new_version(client, name: str) -> None:
    created = client.set_secret(name, "v")
    updated = client.update_secret_properties(
        name, content_type="application/json", tags={"a": "b"}, enabled=True
    )
    assert updated.version == created.properties.version
    assert updated.content_type == "application/json"
    assert updated.tags == {"a": "b"}
    assert len(list(client.list_properties_of_secret_versions(name))) == 1
    assert client.get_secret(name).value == "v"


def test_list_pages_hold_25_items_follow_next_link_and_carry_no_values(
    kv_emulator: Emulator, name: str
) -> None:
    with kv_emulator.secret_client("west") as client:
        names = {f"{name}-{i}" for i in range(30)}
        for n in names:
            client.set_secret(n, "hidden")
        kv_emulator.reset_stats("west")
        listed = list(client.list_properties_of_secrets())
        assert names <= {p.name for p in listed}
        assert all(getattr(p, "value", None) is None for p in listed)
        assert kv_emulator.count("west", "GetSecrets", 200) == -(-len(listed) // 25)


def test_list_never_returns_values_on_the_wire(raw, client, name: str) -> None:
    client.set_secret(name, "on-the-wire-value")
    body = raw("GET", "/secrets?api-version=7.5&maxresults=25").json()
    assert "on-the-wire-value" not in str(body)
    assert all("value" not in item for item in body["value"])


def test_delete_is_a_soft_delete_and_the_poller_completes(client, name: str) -> None:
    client.set_secret(name, "v")
    poller = client.begin_delete_secret(name)
    deleted = poller.result()
    poller.wait()
    assert poller.done()
    assert deleted.recovery_id.endswith(f"/deletedsecrets/{name}")
    assert deleted.deleted_date is not None and deleted.scheduled_purge_date is not None
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    assert client.get_deleted_secret(name).name == name
    assert name in {d.name for d in client.list_deleted_secrets()}


def test_recover_restores_the_secret_with_its_versions(client, name: str) -> None:
    client.set_secret(name, "one")
    client.set_secret(name, "two")
    client.begin_delete_secret(name).wait()
    client.begin_recover_deleted_secret(name).wait()
    assert client.get_secret(name).value == "two"
    assert len(list(client.list_properties_of_secret_versions(name))) == 2


def test_purge_removes_the_deleted_secret_for_good(client, name: str) -> None:
    client.set_secret(name, "v")
    client.begin_delete_secret(name).wait()
    client.purge_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    client.set_secret(name, "again")  # the name is free once purged
    assert client.get_secret(name).value == "again"


def test_setting_a_soft_deleted_name_conflicts(client, name: str) -> None:
    client.set_secret(name, "v")
    client.begin_delete_secret(name).wait()
    with pytest.raises(ResourceExistsError) as err:
        client.set_secret(name, "v2")
    assert err.value.status_code == 409
    assert err.value.error.code == "Conflict"
    assert "ObjectIsDeletedButRecoverable" in str(err.value.response.json())


def test_reading_a_disabled_secrets_value_is_forbidden(client, name: str) -> None:
    client.set_secret(name, "v", enabled=False)
    with pytest.raises(HttpResponseError) as err:
        client.get_secret(name)
    assert err.value.status_code == 403
    assert err.value.error.code == "Forbidden"
    # its properties stay listable
    assert [p.enabled for p in client.list_properties_of_secret_versions(name)] == [False]


def test_missing_secret_and_version_are_secret_not_found(client, name: str) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_secret(name)
    assert err.value.error.code == "SecretNotFound"
    client.set_secret(name, "v")
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name, "0" * 32)
    for call in (
        lambda: client.get_deleted_secret(name),
        lambda: client.purge_deleted_secret(name),
        lambda: client.begin_recover_deleted_secret(name),
        lambda: client.begin_delete_secret(name + "-missing"),
        lambda: client.backup_secret(name + "-missing"),
        lambda: client.update_secret_properties(name + "-missing", enabled=False),
    ):
        with pytest.raises(ResourceNotFoundError):
            call()


def test_recovering_a_secret_that_is_not_deleted_is_not_found(client, name: str) -> None:
    client.set_secret(name, "v")
    client.begin_delete_secret(name).wait()
    client.begin_recover_deleted_secret(name).wait()
    with pytest.raises(ResourceNotFoundError):
        client.begin_recover_deleted_secret(name)


def test_value_over_25_kb_is_a_bad_parameter(client, name: str) -> None:
    client.set_secret(name, "x" * 25 * 1024)
    with pytest.raises(HttpResponseError) as err:
        client.set_secret(name, "x" * (25 * 1024 + 1))
    assert err.value.status_code == 400
    assert err.value.error.code == "BadParameter"


@pytest.mark.parametrize("bad", ["has_underscore", "a" * 128, "dot.name", "spa ce"])
def test_names_outside_the_rule_are_bad_parameters(client, bad: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        client.set_secret(bad, "v")
    assert err.value.status_code == 400
    assert err.value.error.code == "BadParameter"


def test_names_up_to_127_characters_are_accepted(client) -> None:
    long_name = "a-" + "b" * 125
    assert client.set_secret(long_name, "v").name == long_name


def test_more_than_15_tags_is_a_bad_parameter(client, name: str) -> None:
    client.set_secret(name, "v", tags={f"t{i}": "x" for i in range(15)})
    with pytest.raises(HttpResponseError) as err:
        client.set_secret(name, "v", tags={f"t{i}": "x" for i in range(16)})
    assert err.value.status_code == 400
    assert err.value.error.code == "BadParameter"


def test_names_are_case_insensitive(client, name: str) -> None:
    client.set_secret(name, "v")
    assert client.get_secret(name.upper()).value == "v"


def test_backup_restores_all_versions_into_a_vault_of_the_same_geography(
    kv_emulator: Emulator, client, name: str
) -> None:
    client.set_secret(name, "one")
    client.set_secret(name, "two", tags={"k": "v"})
    blob = client.backup_secret(name)
    assert isinstance(blob, bytes) and b"two" not in blob
    with kv_emulator.secret_client("west") as west:
        restored = west.restore_secret_backup(blob)
        assert restored.name == name
        assert west.get_secret(name).value == "two"
        assert len(list(west.list_properties_of_secret_versions(name))) == 2
        assert west.get_secret(name).properties.tags == {"k": "v"}


def test_restore_into_another_geography_is_rejected(
    kv_emulator: Emulator, client, name: str
) -> None:
    client.set_secret(name, "v")
    blob = client.backup_secret(name)
    with kv_emulator.secret_client("europe") as europe:
        with pytest.raises(HttpResponseError) as err:
            europe.restore_secret_backup(blob)
        assert err.value.status_code == 400
        assert err.value.error.code == "BadParameter"
        assert "geography" in err.value.error.message


def test_restore_fails_when_the_name_exists(client, name: str) -> None:
    client.set_secret(name, "v")
    blob = client.backup_secret(name)
    with pytest.raises(ResourceExistsError) as err:
        client.restore_secret_backup(blob)
    assert err.value.error.code == "Conflict"


def test_a_tampered_backup_is_a_bad_parameter(client, name: str) -> None:
    client.set_secret(name, "v")
    blob = bytearray(client.backup_secret(name))
    blob[-5] ^= 0xFF
    with pytest.raises(HttpResponseError) as err:
        client.restore_secret_backup(bytes(blob))
    assert err.value.status_code == 400


def test_not_before_and_expiry_round_trip(client, name: str) -> None:
    import datetime as dt

    nbf = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    exp = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    client.set_secret(name, "v", not_before=nbf, expires_on=exp)
    props = client.get_secret(name).properties
    assert props.not_before == nbf
    assert props.expires_on == exp


def test_listing_sees_names_added_and_deleted_between_pages(kv_emulator_factory):
    emu = kv_emulator_factory(["paging"])
    with emu.secret_client("paging") as client:
        for i in range(30):
            client.set_secret(f"page-{i:02d}", "v")
        pages = client.list_properties_of_secrets().by_page()
        first = [p.name for p in next(pages)]
        client.begin_delete_secret("page-29").wait()
        client.set_secret("page-zz", "v")
        rest = [p.name for page in pages for p in page]
    assert len(first) == 25
    assert "page-zz" in rest and "page-29" not in rest
