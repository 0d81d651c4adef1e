"""Auth, roles, Key Vault's error shape, and robustness against malformed requests."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from emulator.server import CHALLENGE
from emulator.testing import Emulator


def test_a_request_without_a_token_gets_the_bearer_challenge(raw) -> None:
    response = raw("GET", "/secrets?api-version=7.5", token=None)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == CHALLENGE
    assert challenge.startswith('Bearer authorization="https://login.microsoftonline.com/')
    assert 'resource="https://vault.azure.net"' in challenge
    assert response.json()["error"]["code"] == "Unauthorized"


def test_the_sdk_challenge_flow_resends_the_body(kv_emulator: Emulator, name: str) -> None:
    kv_emulator.reset_stats("west")
    # a fresh client for a vault it has never seen: first request unauthenticated, then re-sent
    with kv_emulator.secret_client("west") as client:
        assert client.set_secret(name, "through-the-challenge").value == "through-the-challenge"
    assert kv_emulator.count("west", "SetSecret", 200) == 1


def test_any_token_is_accepted_without_roles(kv_emulator: Emulator, name: str) -> None:
    with kv_emulator.secret_client("east", token="whatever-you-like") as client:
        stored = client.set_secret(name, "v")
        assert client.get_secret(name).properties.version == stored.properties.version


def test_roles_file_makes_read_only_tokens_forbidden_to_write(
    kv_emulator_factory, tmp_path: Path
) -> None:
    emu = kv_emulator_factory(["vault"], roles={"reader": "read", "admin": "full"})
    with emu.secret_client(token="admin") as admin, emu.secret_client(token="reader") as reader:
        admin.set_secret("shared", "v")
        assert reader.get_secret("shared").value == "v"
        assert [p.name for p in reader.list_properties_of_secrets()] == ["shared"]
        with pytest.raises(HttpResponseError) as err:
            reader.set_secret("shared", "nope")
        assert err.value.status_code == 403 and err.value.error.code == "Forbidden"
        with pytest.raises(HttpResponseError):
            reader.begin_delete_secret("shared")
    with (
        emu.secret_client(token="stranger") as stranger,
        pytest.raises(ClientAuthenticationError),
    ):
        stranger.get_secret("shared")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"value": 42}', 400),
        (b'{"value": "v", "tags": ["a"]}', 400),
        (b'{"value": "v", "tags": {"a": 1}}', 400),
        (b'{"value": "v", "attributes": {"enabled": "yes"}}', 400),
        (b'{"value": "v", "attributes": {"exp": true}}', 400),
        (b'{"value": "v", "contentType": 5}', 400),
        (b"\xff\xfe\x00", 400),
        (b"", 400),
    ],
)
def test_malformed_bodies_get_bad_parameter(raw, name: str, body: bytes, status: int) -> None:
    response = raw(
        "PUT",
        f"/secrets/{name}?api-version=7.5",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "BadParameter"
    assert set(error) == {"code", "message", "innererror"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/keys/{name}/create", {"kty": 5}),
        ("/keys/{name}/create", {"kty": "RSA", "key_size": "big"}),
        ("/keys/{name}/create", {"kty": "RSA", "key_ops": "sign"}),
        ("/certificates/{name}/create", {"policy": "self"}),
        ("/certificates/{name}/create", {"policy": {"x509_props": {"subject": 7}}}),
        ("/certificates/{name}/create", {"policy": {"x509_props": {"subject": "nonsense"}}}),
        ("/certificates/{name}/import", {"value": 7}),
        ("/secrets/restore", {"value": 7}),
        ("/keys/restore", {"value": "AAAA"}),
        ("/certificates/restore", {}),
    ],
)
def test_wrong_types_get_bad_parameter(raw, name: str, path: str, body: object) -> None:
    response = raw("POST", path.format(name=name) + "?api-version=7.5", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "BadParameter"


def test_oversized_bodies_are_refused(raw, name: str) -> None:
    response = raw("PUT", f"/secrets/{name}?api-version=7.5", json={"value": "x" * 400_000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "RequestBodyTooLarge"


def test_unknown_routes_and_methods_get_key_vault_errors(raw) -> None:
    unknown = raw("GET", "/storage/accounts?api-version=7.5")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NotFound"
    wrong_method = raw("POST", "/secrets?api-version=7.5", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "MethodNotAllowed"
    root = raw("GET", "/")
    assert root.status_code == 404


def test_any_api_version_is_accepted(raw, name: str) -> None:
    for version in ("7.0", "2026-04-01", "9999-01-01-preview", None):
        query = f"?api-version={version}" if version else ""
        response = raw("PUT", f"/secrets/{name}{query}", json={"value": "v"})
        assert response.status_code == 200


def test_ids_use_the_host_the_client_gave(kv_emulator: Emulator, raw, name: str) -> None:
    port = kv_emulator.url("east").rsplit(":", 1)[1].rstrip("/")
    response = raw(
        "PUT",
        f"/secrets/{name}?api-version=7.5",
        json={"value": "v"},
        headers={"Host": f"localhost:{port}"},
    )
    assert response.json()["id"].startswith(f"https://localhost:{port}/secrets/{name}/")


def test_concurrent_writers_and_readers_are_safe(kv_emulator: Emulator, name: str) -> None:
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            with kv_emulator.secret_client("west") as client:
                for j in range(10):
                    client.set_secret(name, f"{i}-{j}")
                    client.get_secret(name)
                    list(client.list_properties_of_secret_versions(name))
        except BaseException as exc:
            with lock:
                errors.append(exc)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert errors == []
    with kv_emulator.secret_client("west") as client:
        versions = list(client.list_properties_of_secret_versions(name))
    assert len(versions) == 80
    assert len({v.version for v in versions}) == 80


def test_error_bodies_have_key_vault_shape(raw, name: str) -> None:
    response = raw("GET", f"/secrets/{name}?api-version=7.5")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "SecretNotFound"
    assert isinstance(body["error"]["message"], str)
    json.dumps(body)
