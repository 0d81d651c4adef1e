"""The topology record: JSON form, highest epoch wins, split brain flagged, epoch + 1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kvdr.errors import TopologyError
from kvdr.topology.record import (
    TopologyRecord,
    assess_topology,
    choose_current,
    initial_record,
    next_epoch,
    precedence,
)
from kvdr.vault.links import TOPOLOGY_SECRET_NAME, is_reserved_name

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(primary: str, epoch: int, minutes: int = 0) -> TopologyRecord:
    return TopologyRecord(primary, epoch, T0 + timedelta(minutes=minutes), "ops@contoso",
                          "drill", "run-1")


def test_record_round_trips_through_the_secret_value():
    rec = record("eastus", 3)
    text = rec.to_json()
    assert json.loads(text)["changed_at"] == "2026-03-01T12:00:00Z"
    assert TopologyRecord.from_json(text) == rec


@pytest.mark.parametrize("text", ["not json", "[]", '{"primary": "eastus"}',
                                  '{"primary": "eastus", "epoch": -1, "changed_at": '
                                  '"2026-03-01T12:00:00Z"}',
                                  '{"primary": "", "epoch": 1, "changed_at": '
                                  '"2026-03-01T12:00:00Z"}'])
def test_malformed_records_raise_topology_errors(text):
    with pytest.raises(TopologyError) as info:
        TopologyRecord.from_json(text)
    assert info.value.code == "topology.invalid"


def test_highest_epoch_wins_whatever_the_order_and_unreachable_vaults():
    assert choose_current([None, record("westus", 2), record("eastus", 1)]).primary == "westus"
    assert choose_current([record("eastus", 5), None, record("westus", 4)]).epoch == 5


def test_no_record_at_all_is_topology_missing():
    with pytest.raises(TopologyError) as info:
        choose_current([None, None])
    assert info.value.code == "topology.missing"


def test_equal_epochs_with_different_primaries_are_split_brain_chosen_deterministically():
    a, b = record("eastus", 3, minutes=1), record("westus", 3, minutes=2)
    # the earliest change wins the tie: the runbook that started its switch first; a later
    # one, which settles later, defers to it
    assert choose_current([a, b]) == choose_current([b, a]) == a
    view = assess_topology({"eastus": a, "westus": b})
    assert view.split_brain and view.rivals == (b,)
    c = record("centralus", 3, minutes=2)  # same time too: the region name decides
    assert choose_current([b, c]) == choose_current([c, b]) == c


def test_one_rule_orders_every_record_totally():
    same = [TopologyRecord("westus", 3, T0, "ops", "x", run) for run in ("run-2", "run-1")]
    assert choose_current(same) == choose_current(same[::-1]) == same[1]  # runbook id last
    assert sorted([record("eastus", 2), record("westus", 3, minutes=5)],
                  key=precedence)[0].epoch == 3  # the epoch before anything else


def test_assessment_lists_stale_and_missing_vaults():
    current = record("westus", 2)
    view = assess_topology({"eastus": record("eastus", 1), "westus": current,
                            "centralus": None})
    assert view.current == current and not view.split_brain
    assert view.stale_regions == ("eastus",)
    assert view.missing_regions == ("centralus",)
    assert view.to_dict()["current"]["primary"] == "westus"


def test_next_epoch_raises_the_epoch_by_exactly_one():
    first = initial_record("eastus", changed_at=T0)
    assert first.epoch == 1
    second = next_epoch(first, "westus", changed_at=T0 + timedelta(hours=1),
                        changed_by="alert:abc", reason="region outage", runbook_id="fo-1")
    assert (second.primary, second.epoch, second.runbook_id) == ("westus", 2, "fo-1")
    assert next_epoch(second, "eastus", changed_at=T0 + timedelta(hours=2), changed_by="ops",
                      reason="failback").epoch == 3


def test_next_epoch_needs_a_reason_and_a_clock_that_moves_forward():
    first = initial_record("eastus", changed_at=T0)
    with pytest.raises(TopologyError):
        next_epoch(first, "westus", changed_at=T0, changed_by="ops", reason=" ")
    with pytest.raises(TopologyError):
        next_epoch(first, "westus", changed_at=T0 - timedelta(seconds=1), changed_by="ops",
                   reason="failover")


def test_the_topology_secret_is_a_reserved_name():
    assert is_reserved_name(TOPOLOGY_SECRET_NAME)
