"""Link tags, reserved names, tag budget, fingerprints and inventory serialisation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kvdr.errors import ConfigError
from kvdr.vault.fingerprint import fingerprint, fingerprints_match, key_from_env
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, item_key
from kvdr.vault.links import (
    LINK_TAG,
    MAX_TAGS,
    TOPOLOGY_SECRET_NAME,
    LinkState,
    LinkTag,
    has_room_for_link,
    is_reserved_name,
    parse_link,
    split_tags,
    tags_with_link,
)

KEY = b"k" * 32
VERSION = "0123456789abcdef0123456789abcdef"


def test_link_tag_round_trips_through_its_value():
    link = LinkTag("eastus", VERSION, 7, "fedcba9876543210fedcba9876543210")
    assert link.format() == f"v1:eastus:{VERSION}:7:fedcba9876543210fedcba9876543210"
    assert LinkTag.parse(link.format()) == link
    assert len(link.format()) <= 256  # service limit for a tag value


def test_pending_link_has_an_empty_copy_version_and_confirms_to_a_version():
    pending = LinkTag("eastus", VERSION, 1)
    assert pending.format().endswith(":")
    assert LinkTag.parse(pending.format()).copy_version is None
    assert pending.state_for("w1") == LinkState.PENDING
    confirmed = pending.confirmed("w1")
    assert confirmed.state_for("W1") == LinkState.CONFIRMED
    assert confirmed.state_for("w2") == LinkState.STALE


@pytest.mark.parametrize("value", ["", "eastus/v1", "v2:eastus:v1:1:", "v1:eastus:v1:x:",
                                   "v1:EastUS:v1:1:", "v1:eastus::1:", "v1:eastus:v1:1",
                                   "v1:eastus:v/1:1:"])
def test_malformed_link_values_are_not_links(value):
    with pytest.raises(ValueError):
        LinkTag.parse(value)
    assert parse_link(value) is None


def test_split_tags_removes_the_link_tag_even_when_malformed():
    user, link = split_tags({"team": "a", LINK_TAG: "v1:eastus:v1:2:w1"})
    assert (user, link) == ({"team": "a"}, LinkTag("eastus", "v1", 2, "w1"))
    assert split_tags({"team": "a", LINK_TAG: "garbage"}) == ({"team": "a"}, None)
    assert split_tags(None) == ({}, None)


def test_tag_budget_keeps_one_slot_for_the_link():
    assert has_room_for_link({f"t{i}": "x" for i in range(MAX_TAGS - 1)})
    assert not has_room_for_link({f"t{i}": "x" for i in range(MAX_TAGS)})
    tags = tags_with_link({f"t{i}": "x" for i in range(14)}, LinkTag("eastus", "v1"))
    assert len(tags) == 15 and tags[LINK_TAG] == "v1:eastus:v1:0:"
    with pytest.raises(ValueError, match="maximum of 15"):
        tags_with_link({f"t{i}": "x" for i in range(15)}, LinkTag("eastus", "v1"))
    assert tags_with_link({"a": "1", LINK_TAG: "old"}, None) == {"a": "1"}


def test_kvdr_names_are_reserved_case_insensitively():
    assert is_reserved_name(TOPOLOGY_SECRET_NAME)
    assert is_reserved_name("KVDR-Topology")
    assert not is_reserved_name("kvdrsecret")
    assert not is_reserved_name("db-password")


# --- fingerprints -------------------------------------------------------------------------------


def test_fingerprint_is_keyed_short_hex_and_never_the_value():
    fp = fingerprint(KEY, "hunter2", context="secret/db")
    assert re.fullmatch(r"[0-9a-f]{32}", fp)
    assert "hunter2" not in fp
    assert fingerprint(KEY, b"hunter2", context="secret/db") == fp
    assert fingerprint(b"j" * 32, "hunter2", context="secret/db") != fp
    assert fingerprint(KEY, "hunter3", context="secret/db") != fp


def test_same_value_under_another_name_has_another_fingerprint():
    assert fingerprint(KEY, "v", context="secret/a") != fingerprint(KEY, "v", context="secret/b")


def test_fingerprints_compare_in_constant_time_and_none_never_matches():
    fp = fingerprint(KEY, "x", context="secret/a")
    assert fingerprints_match(fp, fp)
    assert not fingerprints_match(fp, None)
    assert not fingerprints_match(None, None)


def test_fingerprint_refuses_a_short_key():
    with pytest.raises(ValueError):
        fingerprint(b"short", "x", context="secret/a")


def test_fingerprint_key_comes_from_the_named_setting():
    assert key_from_env({"KVDR_FINGERPRINT_KEY": "z" * 32}) == b"z" * 32
    with pytest.raises(ConfigError) as missing:
        key_from_env({})
    assert (missing.value.setting, missing.value.code) == ("KVDR_FINGERPRINT_KEY",
                                                           "config.missing")
    with pytest.raises(ConfigError) as short:
        key_from_env({"KVDR_FINGERPRINT_KEY": "abc"})
    assert "abc" not in str(short.value)


# --- inventory ----------------------------------------------------------------------------------


def test_item_props_from_service_split_the_link_from_user_tags():
    props = ItemProps.from_service("secret", "db", version="w1",
                                   tags={"team": "a", LINK_TAG: "v1:eastus:v1:3:w1"})
    assert props.tags == {"team": "a"}
    assert props.link_state == LinkState.CONFIRMED
    assert props.key == "secret/db"


def test_item_props_round_trip_compactly_through_json():
    props = ItemProps(ItemKind.CERTIFICATE, "Web", "v1", enabled=False,
                      not_before=datetime(2026, 1, 1, tzinfo=UTC),
                      expires=datetime(2027, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
                      tags={"b": "2", "a": "1"}, exportable=True, thumbprint="ab",
                      link=LinkTag("eastus", "v0", 1, "v1"))
    data = json.loads(json.dumps(props.to_dict()))
    assert data["expires"] == "2027-01-01T00:00:00Z"  # normalised to UTC
    assert ItemProps.from_dict(data) == props
    assert ItemProps.from_dict({"kind": "secret", "name": "x"}).to_dict() == {
        "kind": "secret", "name": "x"}  # defaults are left out


def test_naive_timestamps_are_taken_as_utc():
    props = ItemProps(ItemKind.SECRET, "x", expires=datetime(2026, 1, 1))
    assert props.expires == datetime(2026, 1, 1, tzinfo=UTC)


def test_inventory_sorts_rejects_duplicates_and_finds_case_insensitively():
    inv = Inventory.of("eastus", [ItemProps(ItemKind.KEY, "k"), ItemProps(ItemKind.SECRET, "B"),
                                  ItemProps(ItemKind.SECRET, "a")], deleted={"Secret/Gone"})
    assert [p.name for p in inv.items] == ["a", "B", "k"]
    assert inv.get("secret", "b").name == "B"
    assert inv.deleted == frozenset({"secret/gone"})
    assert inv.counts() == {"secret": 2, "certificate": 0, "key": 1}
    with pytest.raises(ValueError, match="twice"):
        Inventory.of("eastus", [ItemProps(ItemKind.SECRET, "a"), ItemProps(ItemKind.SECRET, "A")])


def test_partial_inventories_merge_and_stay_incomplete_if_any_part_was():
    secrets = Inventory.of("eastus", [ItemProps(ItemKind.SECRET, "a")])
    keys = Inventory.of("eastus", [ItemProps(ItemKind.KEY, "k")], complete=False)
    merged = secrets.merge(keys)
    assert [p.key for p in merged.items] == ["secret/a", "key/k"]
    assert merged.complete is False
    with pytest.raises(ValueError):
        secrets.merge(Inventory.of("westus"))
    assert Inventory.from_dict(json.loads(json.dumps(merged.to_dict()))) == merged


def test_item_key_is_kind_and_lowercase_name():
    assert item_key("certificate", "Web-Cert") == "certificate/web-cert"


def test_a_link_with_the_origin_id_round_trips_and_older_five_field_links_still_parse():
    link = LinkTag("eastus", "c100", 3, "c101", origin_id="0" * 31 + "a")
    assert LinkTag.parse(link.format()) == link
    assert LinkTag.parse("v1:eastus:c100:3:c101").origin_id is None


def test_same_origin_tells_apart_versions_of_one_second_only_when_both_ids_are_known():
    a = LinkTag("eastus", "c100", origin_id="a" * 32)
    assert a.same_origin(LinkTag("eastus", "c100", 2, origin_id="A" * 32))
    assert not a.same_origin(LinkTag("eastus", "c100", origin_id="b" * 32))
    assert a.same_origin(LinkTag("eastus", "c100"))
    assert not a.same_origin(LinkTag("eastus", "c101", origin_id="a" * 32))
