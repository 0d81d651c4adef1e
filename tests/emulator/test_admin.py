"""The /_emulator/ admin surface, on each vault's port, on the admin port and on the handle."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from emulator.testing import Emulator


def _admin(emu: Emulator, method: str, path: str, **kwargs: object) -> requests.Response:
    assert emu.admin_url is not None
    return requests.request(method, emu.admin_url + path, verify=emu.ca_cert, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_stats_count_requests_by_operation_and_status(kv_emulator_factory, raw) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.secret_client() as client:
        client.set_secret("a", "1")
        client.set_secret("a", "2")
        client.get_secret("a")
        with pytest.raises(HttpResponseError):
            client.get_secret("missing")
    stats = emu.stats()
    assert stats["operations"]["SetSecret"] == {"401": 1, "200": 2}
    assert stats["operations"]["GetSecret"] == {"200": 1, "404": 1}
    assert stats["total"] == 5
    on_wire = requests.get(emu.url() + "_emulator/stats", verify=emu.ca_cert, timeout=10).json()
    assert on_wire["operations"] == stats["operations"]  # admin calls are not counted


def test_stats_reset_on_the_wire_and_on_the_handle(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.secret_client() as client:
        client.set_secret("a", "1")
    reset = requests.post(emu.url() + "_emulator/stats/reset", verify=emu.ca_cert, timeout=10)
    assert reset.status_code == 200
    assert emu.stats()["total"] == 0
    with emu.secret_client() as client:
        client.get_secret("a")
    assert emu.count("vault", "GetSecret", 200) == 1
    emu.reset_stats()
    assert emu.stats()["operations"] == {}


def test_down_503_answers_service_unavailable_until_up(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.secret_client(retry_total=0) as client:
        client.set_secret("a", "1")
        response = requests.post(
            emu.url() + "_emulator/down", json={"mode": "503"}, verify=emu.ca_cert, timeout=10
        )
        assert response.status_code == 200
        with pytest.raises(HttpResponseError) as err:
            client.get_secret("a")
        assert err.value.status_code == 503
        requests.post(emu.url() + "_emulator/up", verify=emu.ca_cert, timeout=10)
        assert client.get_secret("a").value == "1"


def test_down_refuse_closes_the_port_and_the_admin_port_stays_up(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["east", "west"], admin_port=0)
    with emu.secret_client("east", retry_total=0) as client:
        client.set_secret("a", "1")
        assert _admin(emu, "POST", "east/down", json={"mode": "refuse"}).status_code == 200
        with pytest.raises(ServiceRequestError):
            client.get_secret("a")
        with pytest.raises(requests.ConnectionError):
            requests.get(emu.url("east") + "_emulator/stats", verify=emu.ca_cert, timeout=5)
        # the admin port keeps serving every vault, and the other vault is unaffected
        assert _admin(emu, "GET", "east/stats").status_code == 200
        with emu.secret_client("west") as west:
            west.set_secret("b", "2")
        assert _admin(emu, "POST", "east/up").status_code == 200
        assert client.get_secret("a").value == "1"
        assert client.vault_url == emu.url("east").rstrip("/")  # same port after coming back


def test_down_and_up_on_the_handle(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.secret_client(retry_total=0) as client:
        client.set_secret("a", "1")
        emu.down(mode="refuse")
        with pytest.raises(ServiceRequestError):
            client.get_secret("a")
        emu.up()
        assert client.get_secret("a").value == "1"


def test_admin_port_lists_vaults_and_rejects_unknown_ones(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["east", "west"], admin_port=0)
    vaults = _admin(emu, "GET", "vaults").json()
    assert [v["name"] for v in vaults] == ["east", "west"]
    assert vaults[0]["url"] == emu.url("east")
    assert _admin(emu, "GET", "nowhere/stats").status_code == 404
    assert _admin(emu, "GET", "east/nothing").status_code == 404


def test_admin_faults_and_down_validate_their_bodies(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"], admin_port=0)
    for path, body in (
        ("vault/faults", {"rate": "lots"}),
        ("vault/faults", {"rate": 2}),
        ("vault/faults", [1]),
        ("vault/down", {"mode": "sideways"}),
    ):
        response = _admin(emu, "POST", path, json=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BadParameter"
    assert _admin(emu, "POST", "vault/faults", json={"rate": 0.5}).status_code == 200
    assert emu.server.vault("vault").faults.rate == 0.5
