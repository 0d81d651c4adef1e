"""Restoring secrets on the emulator through the SDK: a roll back brings the value and metadata
current at TIME back as a new version, a rerun writes nothing, a restore can be undone, a
soft-deleted secret is recovered (and rolled back), and what kvdr cannot know is reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kvdr.restore.execute import restore_item
from kvdr.restore.marks import MARK_TAG, RestoreMark
from kvdr.restore.model import RestoreAction
from kvdr.restore.report import RestoreReport
from kvdr.vault.inventory import ItemKind
from support.vaults import FINGERPRINT_KEY

S = ItemKind.SECRET
NBF = datetime(2024, 1, 1, tzinfo=UTC)
EXP = datetime(2031, 6, 1, tzinfo=UTC)


def test_a_roll_back_brings_value_and_metadata_back_and_a_rerun_writes_nothing(env):
    name = env.name("db")
    first = env.east.secrets.set_secret(name, "good", content_type="text/plain",
                                        not_before=NBF, expires_on=EXP, tags={"app": "web"})
    at = env.moment()
    env.east.secrets.set_secret(name, "bad", content_type="application/json",
                                tags={"app": "oops"}, expires_on=EXP + timedelta(days=9))

    plan = env.plan(at)
    item = env.item(plan, "db")
    assert (item.action, item.version) == (RestoreAction.ROLL_BACK, first.properties.version)
    assert item.created == first.properties.created_on
    assert plan.executable == (item,) and plan.complete

    outcome = env.run(item)
    assert (outcome.ok, outcome.action, outcome.wrote) == (True, RestoreAction.ROLL_BACK, True)
    restored = env.east.secrets.get_secret(name)
    assert restored.value == "good"
    props = restored.properties
    assert (props.content_type, props.enabled, props.not_before, props.expires_on) == (
        "text/plain", True, NBF, EXP)
    mark = RestoreMark.parse(props.tags.pop(MARK_TAG))
    assert props.tags == {"app": "web"}
    assert mark == RestoreMark(first.properties.version, None, props.version)  # confirmed
    assert env.versions(S, "db") == 3

    rerun = env.plan(at)
    assert env.item(rerun, "db").action == RestoreAction.UNCHANGED
    assert rerun.executable == ()
    again = env.run(item)  # a retried batch after the write landed
    assert (again.ok, again.action, again.wrote) == (True, RestoreAction.UNCHANGED, False)
    assert env.versions(S, "db") == 3


def test_a_restore_is_undone_by_restoring_to_the_moment_before_it(env):
    name = env.name("undo")
    good = env.east.secrets.set_secret(name, "good").properties.version
    at = env.moment()
    bad = env.east.secrets.set_secret(name, "bad").properties.version
    before_restore = env.moment()
    assert env.run(env.item(env.plan(at), "undo")).wrote
    assert env.east.secrets.get_secret(name).value == "good"
    env.emu.advance(2)

    undo = env.item(env.plan(before_restore), "undo")
    assert (undo.action, undo.version) == (RestoreAction.ROLL_BACK, bad)
    assert env.run(undo).wrote
    assert env.east.secrets.get_secret(name).value == "bad"
    env.emu.advance(2)
    redo = env.item(env.plan(at), "undo")  # and back again: the latest restores `bad`
    assert (redo.action, redo.version) == (RestoreAction.ROLL_BACK, good)


def test_a_rotation_that_copies_the_mark_is_rolled_back_not_taken_for_a_restore(env):
    name = env.name("copied")
    env.east.secrets.set_secret(name, "good")
    at = env.moment()
    env.east.secrets.set_secret(name, "bad")
    env.run(env.item(env.plan(at), "copied"))
    env.emu.advance(2)
    tags = env.east.secrets.get_secret(name).properties.tags
    env.east.secrets.set_secret(name, "bad again", tags=tags)  # a script keeping the tags
    assert env.item(env.plan(at), "copied").action == RestoreAction.ROLL_BACK


def test_an_interrupted_restore_is_confirmed_not_written_twice(env):
    name = env.name("pending")
    env.east.secrets.set_secret(name, "good", tags={"t": "1"})
    at = env.moment()
    env.east.secrets.set_secret(name, "bad")
    item = env.item(env.plan(at), "pending")
    env.run(item)
    latest = env.east.secrets.get_secret(name).properties
    # as if the process died between the write and the confirmation
    pending = RestoreMark(item.version or "", None).format()
    env.east.secrets.update_secret_properties(name, latest.version,
                                              tags={"t": "1", MARK_TAG: pending})
    assert env.item(env.plan(at), "pending").action == RestoreAction.ROLL_BACK
    outcome = env.run(item)
    assert outcome.ok and "confirmed" in outcome.done
    assert env.versions(S, "pending") == 3
    assert env.item(env.plan(at), "pending").action == RestoreAction.UNCHANGED


def test_without_room_for_the_mark_a_rerun_compares_fingerprints_and_writes_nothing(env):
    name = env.name("full")
    tags = {f"tag{i}": str(i) for i in range(14)}
    env.east.secrets.set_secret(name, "good", tags=tags)
    at = env.moment()
    env.east.secrets.set_secret(name, "bad", tags=tags)
    item = env.item(env.plan(at), "full")
    assert env.run(item).wrote
    assert env.east.secrets.get_secret(name).properties.tags == tags  # no mark: no room
    assert env.item(env.plan(at), "full").action == RestoreAction.ROLL_BACK
    again = env.run(item)
    assert (again.ok, again.action, again.wrote) == (True, RestoreAction.UNCHANGED, False)
    assert "fingerprint" in again.done
    assert env.versions(S, "full") == 3


def test_a_secret_deleted_after_time_is_recovered_and_rolled_back(env):
    plain, rolled = env.name("del"), env.name("delrolled")
    env.east.secrets.set_secret(plain, "kept")
    env.east.secrets.set_secret(rolled, "good", content_type="text/plain")
    at = env.moment()
    env.east.secrets.set_secret(rolled, "bad")
    for name in (plain, rolled):
        env.east.secrets.begin_delete_secret(name).wait()

    plan = env.plan(at)
    assert env.item(plan, "del").action == RestoreAction.RECOVER
    assert env.item(plan, "delrolled").action == RestoreAction.RECOVER_AND_ROLL_BACK
    outcomes = [env.run(i) for i in plan.executable]
    assert [(o.ok, o.wrote) for o in outcomes] == [(True, True), (True, True)]
    assert env.east.secrets.get_secret(plain).value == "kept"
    got = env.east.secrets.get_secret(rolled)
    assert (got.value, got.properties.content_type) == ("good", "text/plain")

    rerun = env.plan(at)
    assert [(i.name, i.action) for i in rerun.items] == [(rolled, RestoreAction.UNCHANGED)]
    assert [env.run(i).wrote for i in plan.executable] == [False, False]
    assert env.versions(S, "delrolled") == 3


def test_a_secret_deleted_before_time_stays_deleted(env):
    name = env.name("gone")
    env.east.secrets.set_secret(name, "old")
    env.east.secrets.begin_delete_secret(name).wait()
    at = env.moment()
    assert [i.name for i in env.plan(at).items] == []


def test_what_kvdr_cannot_know_or_read_is_reported(env):
    attrs, disabled = env.name("attrs"), env.name("disabled")
    env.east.secrets.set_secret(attrs, "v")
    env.east.secrets.set_secret(disabled, "v", enabled=False)
    at = env.moment()
    env.east.secrets.update_secret_properties(attrs, tags={"changed": "after"})
    env.east.secrets.set_secret(disabled, "bad")

    plan = env.plan(at)
    assert env.item(plan, "attrs").action == RestoreAction.CANNOT
    assert "attributes" in env.item(plan, "attrs").reason
    assert env.item(plan, "disabled").action == RestoreAction.CANNOT
    assert "disabled" in env.item(plan, "disabled").reason
    assert plan.executable == ()


def test_new_items_are_reported_and_disabled_only_when_asked(env):
    old, new = env.name("old"), env.name("new")
    env.east.secrets.set_secret(old, "v")
    at = env.moment()
    env.east.secrets.set_secret(new, "v")

    reported = env.item(env.plan(at), "new")
    assert reported.action == RestoreAction.REPORT_NEW and not reported.writes
    outcome = env.run(reported)
    assert (outcome.action, outcome.wrote) == (RestoreAction.REPORT_NEW, False)
    assert env.east.secrets.get_secret(new).properties.enabled is True

    disabling = env.item(env.plan(at, disable_new=True), "new")
    assert disabling.action == RestoreAction.DISABLE_NEW and disabling.writes
    assert env.run(disabling).wrote
    assert env.east.item(S, new).enabled is False
    assert env.versions(S, "new") == 1  # disabled, not deleted, no new version
    again = env.item(env.plan(at, disable_new=True), "new")
    assert again.action == RestoreAction.REPORT_NEW and "disabled" in again.reason
    assert env.run(again, disable_new=True).wrote is False


def test_a_restore_in_the_same_second_as_the_bad_version_is_still_told_apart(env):
    name = env.name("fast")
    env.east.secrets.set_secret(name, "good")
    at = env.moment()
    env.east.secrets.set_secret(name, "bad")
    item = env.item(env.plan(at), "fast")
    # no clock advance: the restore is of the bad version's second
    first = restore_item(env.east, env.others, item, run_id="r", fingerprint_key=FINGERPRINT_KEY)
    assert first.wrote and env.east.secrets.get_secret(name).value == "good"
    assert env.item(env.plan(at), "fast").action == RestoreAction.UNCHANGED
    again = restore_item(env.east, env.others, item, run_id="r", fingerprint_key=FINGERPRINT_KEY)
    assert again.wrote is False and env.versions(S, "fast") == 3


def test_no_value_reaches_the_plan_the_outcome_or_the_report(env):
    name, value = env.name("quiet"), "s3cr3t-value-never-shown"
    env.east.secrets.set_secret(name, value)
    at = env.moment()
    env.east.secrets.set_secret(name, "another-value-never-shown")
    plan = env.plan(at)
    outcome = env.run(env.item(plan, "quiet"))
    report = RestoreReport.from_plan(plan, run_id="r").merge([outcome]).finish(datetime.now(UTC))
    text = json.dumps([plan.to_dict(), outcome.to_dict(), report.to_dict()]) + \
        report.render_text()
    assert outcome.wrote and "never-shown" not in text
