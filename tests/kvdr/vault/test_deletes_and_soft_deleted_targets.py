"""Deletion mirroring soft-deletes (never purges); soft-deleted target names per policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kvdr.config.schema import DeletionPolicy, SoftDeletedTargetPolicy
from kvdr.sync.model import PlanAction
from support.vaults import actions, execute, plan_for


def test_mirrored_deletion_soft_deletes_only_kvdr_copies_and_never_purges(
        config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    config = replace(config, policies=replace(
        config.policies, deletions=DeletionPolicy.MIRROR, deletion_grace_period=timedelta(0),
        deletion_breaker_max_percent=100.0))
    copied, foreign = unique("del"), unique("del-foreign")
    east.secrets.set_secret(copied, "value-del")
    execute(config, east, west, plan_for(config, east, west, [copied]))
    west.secrets.set_secret(foreign, "value-foreign")
    east.secrets.begin_delete_secret(copied).wait()

    plan = plan_for(config, east, west, [copied, foreign])
    assert actions(plan) == {copied: "delete_candidate", foreign: "target_only"}
    result = execute(config, east, west, plan)
    assert [(o.name, o.action, o.ok) for o in result.outcomes] == [
        (copied, PlanAction.DELETE_CANDIDATE, True)]
    assert west.item("secret", copied) is None
    assert west.secrets.get_deleted_secret(copied).name == copied  # recoverable, not purged
    assert west.item("secret", foreign) is not None
    # retried: nothing more happens
    again = execute(config, east, west, plan)
    assert again.outcomes[0].action == PlanAction.UNCHANGED


def test_deletion_is_refused_when_the_target_changed_since_the_plan(config, sessions,
                                                                     unique) -> None:
    east, west = sessions["east"], sessions["west"]
    config = replace(config, policies=replace(
        config.policies, deletions=DeletionPolicy.MIRROR, deletion_grace_period=timedelta(0),
        deletion_breaker_max_percent=100.0))
    name = unique("del-changed")
    east.secrets.set_secret(name, "value-a")
    execute(config, east, west, plan_for(config, east, west, [name]))
    east.secrets.begin_delete_secret(name).wait()
    plan = plan_for(config, east, west, [name])
    import time
    time.sleep(1.05)  # version tokens have a one-second resolution
    west.secrets.set_secret(name, "value-b")  # someone writes there meanwhile
    result = execute(config, east, west, plan)
    assert [(o.ok, o.code) for o in result.outcomes] == [(False, "replicate.target_changed")]
    assert west.item("secret", name) is not None


def test_soft_deleted_target_is_recovered_then_written(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    planned, late = unique("sd"), unique("sd-late")
    for name in (planned, late):
        east.secrets.set_secret(name, f"value-{name}")
    west.secrets.set_secret(planned, "old")
    west.secrets.begin_delete_secret(planned).wait()
    plan = plan_for(config, east, west, [planned, late])
    assert [(i.name, i.action, i.recover_first) for i in plan.items] == [
        (planned, PlanAction.CREATE, True), (late, PlanAction.CREATE, False)]
    # `late` becomes soft-deleted after planning: the write answers 409, kvdr recovers
    west.secrets.set_secret(late, "old")
    west.secrets.begin_delete_secret(late).wait()
    result = execute(config, east, west, plan)
    assert [(o.action, o.ok) for o in result.outcomes] == [(PlanAction.CREATE, True)] * 2
    for name in (planned, late):
        assert west.secrets.get_secret(name).value == f"value-{name}"


def test_soft_deleted_target_is_reported_under_the_report_policy(config, sessions,
                                                                  unique) -> None:
    east, west = sessions["east"], sessions["west"]
    config = replace(config, policies=replace(
        config.policies, soft_deleted_target=SoftDeletedTargetPolicy.REPORT))
    planned, late = unique("sdr"), unique("sdr-late")
    for name in (planned, late):
        east.secrets.set_secret(name, "value-sdr")
    west.secrets.set_secret(planned, "old")
    west.secrets.begin_delete_secret(planned).wait()
    plan = plan_for(config, east, west, [planned, late])
    assert actions(plan) == {planned: "skip", late: "create"}
    west.secrets.set_secret(late, "old")
    west.secrets.begin_delete_secret(late).wait()
    result = execute(config, east, west, plan)
    assert [(o.name, o.ok, o.code) for o in result.outcomes] == [
        (late, False, "replicate.soft_deleted_target")]
    assert west.item("secret", late) is None
