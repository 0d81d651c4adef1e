"""The message and the marker: a deterministic id per item and expiry, JSON that round-trips and
refuses a forged id, and marker tags that say which expiry was announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kvdr.rotation.markers import MARKER_PREFIX, Marker, marker_name
from kvdr.rotation.message import DueReason, RotationMessage, Source, message_id
from kvdr.vault.inventory import ItemKind

EXP = datetime(2027, 3, 1, 12, 0, 0, tzinfo=UTC)


def _message(**changes) -> RotationMessage:
    fields = dict(kind="secret", name="db-password", version="abc123", expires=EXP,
                  region="eastus", vault_url="https://kv-east.vault.azure.net/", epoch=3,
                  reason="near-expiry", published_at=EXP - timedelta(days=29), source="event")
    fields.update(changes)
    return RotationMessage(**fields)


def test_the_id_depends_on_kind_name_and_expiry_only() -> None:
    base = _message()
    assert base.id == message_id(ItemKind.SECRET, "DB-PASSWORD", EXP)
    assert len(base.id) == 32 and int(base.id, 16) >= 0
    # another region, epoch, version, reason or time of publication: the same announcement
    assert _message(region="westus", epoch=4, version="other", reason="expired",
                    source="scan", published_at=EXP).id == base.id
    # sub-second differences in the expiry do not count (Key Vault keeps whole seconds)
    assert _message(expires=EXP + timedelta(microseconds=700)).id == base.id
    assert _message(expires=EXP + timedelta(seconds=1)).id != base.id
    assert _message(kind="certificate").id != base.id
    assert _message(name="db-password-2").id != base.id


def test_json_round_trips_and_a_forged_or_foreign_message_is_refused() -> None:
    message = _message()
    data = message.to_dict()
    assert data["type"] == "kvdr.rotation.due" and data["expires"] == "2027-03-01T12:00:00Z"
    assert RotationMessage.from_json(message.to_json()) == message
    assert (message.reason, message.source) == (DueReason.NEAR_EXPIRY, Source.EVENT)
    with pytest.raises(ValueError, match="id"):
        RotationMessage.from_dict({**data, "name": "someone-else"})
    with pytest.raises(ValueError, match=r"not a kvdr\.rotation\.due"):
        RotationMessage.from_dict({**data, "type": "something"})
    with pytest.raises(ValueError, match="malformed"):
        RotationMessage.from_dict({k: v for k, v in data.items() if k != "expires"})
    with pytest.raises(ValueError):
        RotationMessage.from_json(b"not json")


def test_marker_tags_name_the_announced_expiry() -> None:
    marker = Marker(ItemKind.KEY, "Signing-Key", EXP, epoch=2)
    assert marker.secret_name == marker_name("key", "signing-key")
    assert marker.secret_name.startswith(f"{MARKER_PREFIX}k-") and len(marker.secret_name) == 56
    assert marker_name("secret", "x").startswith("kvdr-rotation-s-")
    tags = marker.tags()
    assert tags["kvdr-expires"] == "2027-03-01T12:00:00Z"
    assert tags["kvdr-message"] == message_id("key", "signing-key", EXP)
    assert Marker.from_tags(tags) == marker
    assert marker.announces(EXP + timedelta(microseconds=5))
    assert not marker.announces(EXP + timedelta(days=365)) and not marker.announces(None)
    assert Marker.from_tags({**tags, "kvdr-record": "renewal"}) is None
    assert Marker.from_tags({**tags, "kvdr-expires": "soon"}) is None
    assert Marker.from_tags(None) is None
