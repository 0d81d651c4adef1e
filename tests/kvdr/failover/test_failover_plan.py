"""plan_failover over hand-built assessments (no vault, no engine), and the failover report:
its JSON round trip, RTO arithmetic and the text the CLI prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kvdr.failover.plan import Assessment, FailoverPlan, PlanOutcome, Step, plan_failover
from kvdr.failover.report import Approval, FailoverOutcome, FailoverReport
from kvdr.failover.request import FailoverKind, FailoverRequest
from kvdr.topology.record import TopologyRecord

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DOWN = "vault.unreachable"


def record(primary: str, epoch: int = 1, *, minutes: int = 0) -> dict[str, Any]:
    return TopologyRecord(primary=primary, epoch=epoch, changed_at=T0 + timedelta(minutes=minutes),
                          changed_by="test", reason="test").to_dict()


def request(kind: FailoverKind = FailoverKind.PLANNED, target: str = "west",
            **fields: Any) -> FailoverRequest:
    return FailoverRequest(kind=kind, target=target, reason="test", requested_by="pytest",
                           **fields)


def assessment(records: dict[str, dict[str, Any] | None], *, unreachable: dict[str, str]
               | None = None, lag: float | None = None) -> Assessment:
    return Assessment(records, unreachable or {}, lag,
                      "last event 42 s ago" if lag is not None else "")


BOTH_AT_EAST = {"east": record("east"), "west": record("east")}


# --- ready ----------------------------------------------------------------------------------


def test_a_planned_failover_with_both_vaults_up_reconciles_drains_switches_and_verifies(
        ) -> None:
    plan = plan_failover(request(), assessment(BOTH_AT_EAST))
    assert plan.outcome is PlanOutcome.READY
    assert (plan.kind, plan.source, plan.target) == (FailoverKind.PLANNED, "east", "west")
    assert plan.steps == (Step.RECONCILE, Step.DRAIN, Step.SWITCH, Step.VERIFY)
    assert (plan.epoch_before, plan.epoch_after) == (1, 2)
    assert plan.fence == ("east",)
    assert plan.reasons == () and plan.split_brain is False


def test_the_new_epoch_is_the_highest_held_plus_one_even_when_a_vault_is_stale() -> None:
    records = {"east": record("east", 3, minutes=5), "west": record("east", 2)}
    plan = plan_failover(request(), assessment(records))
    assert (plan.source, plan.epoch_before, plan.epoch_after) == ("east", 3, 4)


def test_a_failback_is_planned_like_a_planned_failover() -> None:
    records = {"east": record("east", 1), "west": record("west", 2, minutes=5)}
    plan = plan_failover(request(FailoverKind.FAILBACK, target="east"), assessment(records))
    assert plan.outcome is PlanOutcome.READY and plan.kind is FailoverKind.FAILBACK
    assert (plan.source, plan.target, plan.epoch_after) == ("west", "east", 3)
    assert plan.steps == (Step.RECONCILE, Step.DRAIN, Step.SWITCH, Step.VERIFY)
    assert plan.fence == ("west",)


def test_an_unplanned_failover_with_the_primary_down_switches_and_verifies_only(
        ) -> None:
    records = {"east": None, "west": record("east")}
    plan = plan_failover(request(FailoverKind.UNPLANNED),
                         assessment(records, unreachable={"east": DOWN}, lag=42.4))
    assert plan.outcome is PlanOutcome.READY
    assert plan.steps == (Step.SWITCH, Step.VERIFY)
    assert (plan.source, plan.epoch_before, plan.epoch_after) == ("east", 1, 2)
    assert plan.fence == ()  # east cannot be fenced while it is down
    text = " ".join(plan.reasons)
    assert "~42 s" in text and "last event 42 s ago" in text  # the possible loss, and why
    assert "east is unreachable" in text and "failback" in text


def test_an_unplanned_failover_with_the_primary_up_fences_it() -> None:
    plan = plan_failover(request(FailoverKind.UNPLANNED), assessment(BOTH_AT_EAST))
    assert plan.outcome is PlanOutcome.READY
    assert plan.steps == (Step.SWITCH, Step.VERIFY) and plan.fence == ("east",)


def test_an_unreachable_third_region_is_left_out_of_the_fence_and_said() -> None:
    records = {"east": record("east"), "west": record("east"), "europe": None}
    plan = plan_failover(request(), assessment(records, unreachable={"europe": DOWN}))
    assert plan.outcome is PlanOutcome.READY
    assert plan.fence == ("east",)
    assert any("europe is unreachable" in r for r in plan.reasons)


# --- blocked --------------------------------------------------------------------------------


def test_a_planned_failover_is_blocked_when_the_primary_is_unreachable() -> None:
    records = {"east": None, "west": record("east")}
    plan = plan_failover(request(), assessment(records, unreachable={"east": DOWN}))
    assert plan.outcome is PlanOutcome.BLOCKED
    assert plan.steps == () and plan.epoch_after == plan.epoch_before == 1
    assert "unplanned" in plan.reasons[0] and DOWN in plan.reasons[0]


def test_a_failback_is_blocked_when_the_current_primary_is_unreachable() -> None:
    records = {"east": record("west", 2), "west": None}
    plan = plan_failover(request(FailoverKind.FAILBACK, target="east"),
                         assessment(records, unreachable={"west": DOWN}))
    assert plan.outcome is PlanOutcome.BLOCKED and "west" in plan.reasons[0]


@pytest.mark.parametrize("kind", list(FailoverKind))
def test_every_kind_is_blocked_when_the_target_is_unreachable(kind: FailoverKind) -> None:
    records = {"east": record("east"), "west": None}
    plan = plan_failover(request(kind), assessment(records, unreachable={"west": DOWN}))
    assert plan.outcome is PlanOutcome.BLOCKED
    assert "west cannot be reached" in plan.reasons[0] and DOWN in plan.reasons[0]


def test_it_is_blocked_when_no_vault_holds_a_record() -> None:
    plan = plan_failover(request(), assessment({"east": None, "west": None}))
    assert plan.outcome is PlanOutcome.BLOCKED
    assert plan.source is None and (plan.epoch_before, plan.epoch_after) == (0, 0)
    assert "full sync" in plan.reasons[0]


def test_it_is_blocked_when_every_vault_is_unreachable() -> None:
    plan = plan_failover(request(FailoverKind.UNPLANNED),
                         assessment({"east": None, "west": None},
                                    unreachable={"east": DOWN, "west": DOWN}))
    assert plan.outcome is PlanOutcome.BLOCKED


def test_it_is_blocked_when_the_epoch_is_not_the_one_the_request_saw() -> None:
    records = {"east": record("west", 2, minutes=5), "west": record("west", 2, minutes=5)}
    plan = plan_failover(request(target="east", expected_epoch=1), assessment(records))
    assert plan.outcome is PlanOutcome.BLOCKED
    assert "epoch 2, not 1" in plan.reasons[0]
    assert plan.epoch_after == 2  # nothing is to be written


def test_the_expected_epoch_matching_lets_the_plan_through() -> None:
    plan = plan_failover(request(expected_epoch=1), assessment(BOTH_AT_EAST))
    assert plan.outcome is PlanOutcome.READY


# --- not needed -----------------------------------------------------------------------------


def test_failing_over_to_the_current_primary_is_not_needed() -> None:
    plan = plan_failover(request(target="east"), assessment(BOTH_AT_EAST))
    assert plan.outcome is PlanOutcome.NOT_NEEDED
    assert "already the primary" in plan.reasons[0] and plan.steps == ()


def test_a_request_about_a_vault_that_is_not_the_primary_is_not_needed() -> None:
    records = {"east": record("west", 2, minutes=5), "west": record("west", 2, minutes=5)}
    plan = plan_failover(request(FailoverKind.UNPLANNED, target="east",
                                 expected_primary="east"), assessment(records))
    assert plan.outcome is PlanOutcome.NOT_NEEDED
    assert "east is not the primary" in plan.reasons[0] and "west is" in plan.reasons[0]


# --- split brain ----------------------------------------------------------------------------

SPLIT = {"east": record("east", 2), "west": record("west", 2, minutes=5)}


@pytest.mark.parametrize("target", ["east", "west"])
def test_a_split_brain_is_settled_on_the_target_at_the_highest_epoch_plus_one(
        target: str) -> None:
    plan = plan_failover(request(target=target), assessment(SPLIT))
    assert plan.outcome is PlanOutcome.READY and plan.split_brain is True
    assert (plan.epoch_before, plan.epoch_after) == (2, 3)
    assert plan.target == target
    assert plan.source != target  # reconcile and drain run against the other primary
    assert plan.steps == (Step.RECONCILE, Step.DRAIN, Step.SWITCH, Step.VERIFY)
    assert "split brain" in plan.reasons[0] and "east, west" in plan.reasons[0]
    assert f"settles it on {target} at epoch 3" in plan.reasons[0]


def test_a_split_brain_is_settled_above_a_stale_third_vault() -> None:
    records = {**SPLIT, "europe": record("east", 1)}
    plan = plan_failover(request(FailoverKind.UNPLANNED, target="europe"), assessment(records))
    assert plan.outcome is PlanOutcome.READY and plan.split_brain is True
    assert plan.epoch_after == 3 and set(plan.fence) == {"east", "west"}


# --- the plan's JSON form -------------------------------------------------------------------


def test_a_plan_round_trips_through_its_plain_json_form() -> None:
    plan = plan_failover(request(), assessment(SPLIT))
    data = plan.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert FailoverPlan.from_dict(data) == plan


def test_an_assessment_round_trips_through_its_plain_json_form() -> None:
    found = Assessment({"east": record("east"), "west": None}, {"west": DOWN}, 12.5, "basis",
                       {"east": 2, "west": 1})
    assert Assessment.from_dict(json.loads(json.dumps(found.to_dict()))) == found
    assert found.reachable == ("east",)


# --- the report -----------------------------------------------------------------------------


def report(**changes: Any) -> FailoverReport:
    base = FailoverReport("run-1", "unplanned", "west", "oncall", "east is down", started_at=T0,
                          source="east", epoch_before=1, epoch_after=2)
    outcome = changes.pop("outcome", FailoverOutcome.COMPLETED)
    finished = changes.pop("finished_at", T0 + timedelta(seconds=90))
    return base.finish(outcome, finished, **changes)


def test_a_report_round_trips_through_its_plain_json_form() -> None:
    full = report(fired_at=T0 - timedelta(seconds=30),
                  plan=plan_failover(request(), assessment(BOTH_AT_EAST)).to_dict(),
                  approval=Approval(True, True, "lead", "go", T0 + timedelta(seconds=20), 20.0),
                  timings={"assess": 1.5, "switch": 0.25},
                  steps={"drain": {"status": "succeeded", "counts": {"create": {"secret": 2}}}},
                  fenced=("west", "east"), unreached={"europe": DOWN},
                  rpo_exposure_seconds=12.0, rpo_basis="basis", rto_objective_seconds=600,
                  messages=("note",), error=None, alert_id="alert-1",
                  calls={"east": 3, "west": 4})
    data = full.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert FailoverReport.from_dict(data) == full
    assert data["outcome"] == "completed" and data["fired_at"] == "2025-03-01T11:59:30Z"


def test_rto_runs_from_the_alert_firing_when_there_is_one() -> None:
    fired = report(fired_at=T0 - timedelta(seconds=30))
    assert fired.rto_seconds == 120.0
    assert report().rto_seconds == 90.0  # else from the runbook's start


def test_rto_excluding_approval_subtracts_the_wait_for_a_human() -> None:
    waited = report(approval=Approval(True, True, "lead", wait_seconds=60.0))
    assert (waited.rto_seconds, waited.rto_excluding_approval_seconds) == (90.0, 30.0)
    assert report(approval=Approval(False)).rto_excluding_approval_seconds == 90.0
    assert report().rto_excluding_approval_seconds == 90.0


@pytest.mark.parametrize("outcome", [o for o in FailoverOutcome
                                     if o is not FailoverOutcome.COMPLETED])
def test_there_is_no_rto_without_a_completed_switch(outcome: FailoverOutcome) -> None:
    ended = report(outcome=outcome, rto_objective_seconds=600)
    assert ended.rto_seconds is None and ended.rto_excluding_approval_seconds is None
    assert ended.within_rto is None
    assert ended.to_dict()["rto_seconds"] is None


def test_within_rto_compares_with_the_objective() -> None:
    assert report(rto_objective_seconds=90).within_rto is True
    assert report(rto_objective_seconds=89).within_rto is False
    assert report().within_rto is None  # no objective, no verdict


def test_the_text_names_the_outcome_the_epochs_and_the_rto() -> None:
    text = report(rto_objective_seconds=600, approval=Approval(True, True, "lead",
                                                                wait_seconds=60.0),
                  rpo_exposure_seconds=42.0, rpo_basis="last event 42 s ago",
                  timings={"switch": 1.0}).render_text()
    first = text.splitlines()[0]
    assert first == "unplanned east -> west: completed (epoch 1 -> 2)"
    assert "RTO 90.0 s (objective 600 s: met); kvdr's own part 30.0 s" in text
    assert "possible data loss window ~42 s (last event 42 s ago)" in text
    assert "approval: approved by lead" in text and "switch 1.0s" in text


def test_the_text_says_when_the_objective_was_missed() -> None:
    assert "MISSED" in report(rto_objective_seconds=60).render_text()


def test_the_text_of_a_failure_has_no_rto_and_shows_the_error() -> None:
    text = report(outcome=FailoverOutcome.FAILED,
                  error={"code": "topology.changed", "message": "another runbook"},
                  steps={"drain": {"status": "partial", "counts": {"failed": {"secret": 1}},
                                   "conflicts": [{"kind": "secret", "name": "db",
                                                  "reason": "both changed"}]}},
                  unreached={"europe": DOWN}).render_text()
    assert text.splitlines()[0] == "unplanned east -> west: failed"
    assert "RTO" not in text
    assert "error: [topology.changed] another runbook" in text
    assert "drain: partial (failed 1)" in text
    assert "conflict secret db: both changed" in text
    assert f"not reached: europe [{DOWN}]" in text
