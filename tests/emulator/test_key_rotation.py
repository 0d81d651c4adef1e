"""Key rotation policies and rotate_key, through the SDK's KeyClient, and Rotate lifetime
actions run by advancing the emulator's clock."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import (
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
)

DAY = 86400


def test_default_policy_is_a_30_day_notify(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        client.create_rsa_key("k")
        policy = client.get_key_rotation_policy("k")
        assert [(a.action, a.time_before_expiry) for a in policy.lifetime_actions] == [
            (KeyRotationPolicyAction.notify, "P30D")
        ]
        with pytest.raises(ResourceNotFoundError):
            client.get_key_rotation_policy("missing")


def test_update_policy_round_trips_and_adds_the_default_notify(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        client.create_rsa_key("k")
        rotate = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")
        updated = client.update_key_rotation_policy(
            "k", KeyRotationPolicy(), lifetime_actions=[rotate], expires_in="P2Y")
        got = client.get_key_rotation_policy("k")
    for policy in (updated, got):
        assert policy.id is not None and policy.id.endswith("/keys/k/rotationpolicy")
        assert policy.expires_in == "P2Y"
        assert [(a.action, a.time_after_create, a.time_before_expiry)
                for a in policy.lifetime_actions] == [
            (KeyRotationPolicyAction.rotate, "P90D", None),
            (KeyRotationPolicyAction.notify, None, "P30D"),
        ]
        assert policy.created_on is not None and policy.updated_on is not None


def test_bad_policy_is_400(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        client.create_rsa_key("k")
        bad = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="90 days")
        with pytest.raises(HttpResponseError) as err:
            client.update_key_rotation_policy("k", KeyRotationPolicy(), lifetime_actions=[bad])
        assert err.value.status_code == 400


def test_rotate_key_makes_new_material_of_the_same_type(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        first = client.create_rsa_key("r", size=3072, key_operations=["sign", "verify"])
        client.update_key_rotation_policy("r", KeyRotationPolicy(), expires_in="P60D")
        emu.advance(DAY)
        second = client.rotate_key("r")
        assert second.properties.version != first.properties.version
        assert second.key.kty == first.key.kty and second.key.n != first.key.n
        assert len(second.key.n) == len(first.key.n)  # 3072 bits again
        assert second.key_operations == first.key_operations
        assert second.properties.created_on is not None
        assert second.properties.expires_on == second.properties.created_on + timedelta(days=60)
        ec = client.create_ec_key("e", curve="P-384")
        rotated = client.rotate_key("e")
        assert rotated.key.crv == ec.key.crv and rotated.key.x != ec.key.x
        assert client.get_key("r").properties.version == second.properties.version
        assert len(list(client.list_properties_of_key_versions("r"))) == 2


def test_rotate_action_runs_when_the_clock_passes_it(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        created = client.create_ec_key("k")
        rotate = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")
        client.update_key_rotation_policy("k", KeyRotationPolicy(), lifetime_actions=[rotate])
        emu.advance(29 * DAY)
        assert len(list(client.list_properties_of_key_versions("k"))) == 1
        emu.advance(100 * DAY)  # day 129: rotations at days 30, 60, 90 and 120
        versions = sorted(client.list_properties_of_key_versions("k"),
                          key=lambda p: p.created_on)  # type: ignore[arg-type,return-value]
    assert len(versions) == 5
    assert created.properties.created_on is not None
    gaps = [b.created_on - a.created_on for a, b in itertools.pairwise(versions)]  # type: ignore[operator]
    assert gaps == [timedelta(days=30)] * 4


def test_rotate_before_expiry_uses_the_policys_expiry_time(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        client.create_rsa_key("k", expires_on=emu.clock.now() + timedelta(days=40))
        rotate = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_before_expiry="P7D")
        client.update_key_rotation_policy("k", KeyRotationPolicy(), lifetime_actions=[rotate],
                                          expires_in="P90D")
        emu.advance(34 * DAY)
        assert len(list(client.list_properties_of_key_versions("k"))) == 2  # at day 33
        current = client.get_key("k").properties
        assert current.expires_on is not None and current.created_on is not None
        assert current.expires_on - current.created_on == timedelta(days=90)


def test_rotation_routes_on_the_wire(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        client.create_rsa_key("k")
    headers = {"Authorization": "Bearer x"}
    url = emu.url() + "keys/k/rotationpolicy?api-version=7.5"
    body = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P1M"},
                                 "action": {"type": "rotate"}}], "attributes": {}}
    answer = requests.put(url, json=body, headers=headers, verify=emu.ca_cert, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["lifetimeActions"][0]["action"]["type"] == "Rotate"
    assert emu.count("vault", "UpdateKeyRotationPolicy", 200) == 1


def test_an_overdue_rotate_runs_at_the_next_advance(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.key_client() as client:
        client.create_rsa_key("k")
        emu.advance(100 * DAY)
        rotate = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")
        client.update_key_rotation_policy("k", KeyRotationPolicy(), lifetime_actions=[rotate])
        emu.advance(1)
        versions = list(client.list_properties_of_key_versions("k"))
        assert len(versions) == 2
        emu.advance(29 * DAY)
        assert len(list(client.list_properties_of_key_versions("k"))) == 2
