"""The pure restore planner: every action from hand-made reads (no vault), the idempotence and
undo rules of the restore mark, copies that prove an item, and the scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kvdr.restore.marks import MARK_TAG, RestoreMark
from kvdr.restore.model import RestoreAction, RestoreItem, RestorePlan, RestoreScope
from kvdr.restore.plan import copies_wanted, history_wanted, plan_restore
from kvdr.restore.reads import DeletedRecord, RestoreReads, VersionRecord, version_at
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps
from kvdr.vault.links import LinkTag

S, C, K = ItemKind.SECRET, ItemKind.CERTIFICATE, ItemKind.KEY
A = RestoreAction
T = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
BEFORE, LONG_BEFORE, AFTER = T - timedelta(hours=1), T - timedelta(days=3), T + timedelta(hours=1)
ALL = RestoreScope()


def tok(at: datetime) -> str:
    return f"c{int(at.timestamp())}"


def props(name: str, at: datetime, kind: ItemKind = S, *, updated: datetime | None = None,
          **kw) -> ItemProps:
    return ItemProps(kind=kind, name=name, version=tok(at), updated_on=updated or at, **kw)


def rec(vid: str, p: ItemProps) -> VersionRecord:
    return VersionRecord(vid, p)


def marked(source: str, own: str | None, region: str | None = None) -> dict[str, str]:
    return {MARK_TAG: RestoreMark(source, region, own).format()}


def plan(reads: RestoreReads, scope: RestoreScope = ALL, **kw) -> RestorePlan:
    return plan_restore(reads, as_of=T, scope=scope, epoch=4, **kw)


def one(p: RestorePlan) -> RestoreItem:
    assert len(p.items) == 1, p.to_dict()
    return p.items[0]


def rolled(name: str, history: list[VersionRecord], kind: ItemKind = S, **kw) -> RestoreReads:
    latest = max(history, key=lambda r: r.order)
    return RestoreReads(primary="east", items=(latest.props,),
                        histories={latest.props.key: tuple(history)}, **kw)


# --- items live in the primary --------------------------------------------------------------


def test_items_untouched_since_time_are_only_counted_and_need_no_version_list():
    items = (props("a", BEFORE), props("b", LONG_BEFORE), props("c", BEFORE, C))
    p = plan(RestoreReads(primary="east", items=items))
    assert p.items == () and p.untouched == {"secret": 2, "certificate": 1}
    assert p.counts() == {"unchanged": {"secret": 2, "certificate": 1}}
    assert history_wanted(items, ALL, T) == []


def test_attributes_changed_after_time_on_the_version_current_then_cannot_be_restored():
    p = plan(RestoreReads(primary="east", items=(props("a", BEFORE, updated=AFTER),)))
    assert one(p).action == A.CANNOT and "attributes" in one(p).reason
    assert p.executable == ()


def test_a_latest_version_created_after_time_rolls_back_to_the_version_current_then():
    history = [rec("v0", props("a", LONG_BEFORE)), rec("v1", props("a", BEFORE)),
               rec("v2", props("a", AFTER))]
    assert history_wanted((history[-1].props,), ALL, T) == [(S, "a")]
    item = one(plan(rolled("a", history)))
    assert (item.action, item.version, item.created) == (A.ROLL_BACK, "v1", BEFORE.replace(
        microsecond=0))
    assert item.writes


def test_a_version_created_in_the_second_of_time_counts_as_before_it():
    at = T.replace(microsecond=500_000)
    history = [rec("v1", props("a", T)), rec("v2", props("a", AFTER))]
    assert version_at(history, at).id == "v1"
    assert one(plan_restore(rolled("a", history), as_of=at, scope=ALL, epoch=1)).version == "v1"


def test_a_confirmed_mark_naming_the_version_at_time_is_unchanged_so_a_rerun_writes_nothing():
    history = [rec("v1", props("a", BEFORE)), rec("v2", props("a", AFTER)),
               rec("r1", props("a", AFTER + timedelta(minutes=5), tags=marked("v1", "r1")))]
    item = one(plan(rolled("a", history)))
    assert (item.action, item.version) == (A.UNCHANGED, "v1")
    assert not item.writes


@pytest.mark.parametrize(("mark", "why"), [
    (marked("v1", None), "pending: the executor checks the value and confirms"),
    (marked("v1", "r0"), "stale: a script copied the tags of the restore"),
    (marked("v1", "r1", "west"), "names a copy in west, not the primary's own version"),
    (marked("v9", "r1"), "names another version: restoring to before a restore undoes it"),
])
def test_only_a_confirmed_mark_for_the_version_at_time_counts(mark, why):
    history = [rec("v1", props("a", BEFORE)), rec("v2", props("a", AFTER)),
               rec("r1", props("a", AFTER + timedelta(minutes=5), tags=mark))]
    assert one(plan(rolled("a", history))).action == A.ROLL_BACK, why


def test_undo_restoring_to_just_before_a_restore_brings_the_bad_version_back():
    restore_at = AFTER + timedelta(minutes=5)
    history = [rec("good", props("a", BEFORE)), rec("bad", props("a", AFTER)),
               rec("r1", props("a", restore_at, tags=marked("good", "r1")))]
    just_before = restore_at - timedelta(seconds=30)
    item = one(plan_restore(rolled("a", history), as_of=just_before, scope=ALL, epoch=1))
    assert (item.action, item.version) == (A.ROLL_BACK, "bad")


def test_a_confirmed_restore_wins_a_tie_with_the_version_of_the_same_second():
    history = [rec("v1", props("a", BEFORE)),
               rec("r1", props("a", AFTER, tags=marked("v1", "r1"))),
               rec("v2", props("a", AFTER))]
    assert one(plan(rolled("a", history))).action == A.UNCHANGED


def test_a_certificate_with_the_thumbprint_tags_and_state_of_time_is_unchanged():
    then = dict(thumbprint="aa", tags={"svc": "web"})
    history = [rec("v1", props("c", BEFORE, C, **then)), rec("v2", props("c", AFTER, C,
                                                                        thumbprint="bb")),
               rec("v3", props("c", AFTER + timedelta(minutes=1), C, **then))]
    assert one(plan(rolled("c", history, C))).action == A.UNCHANGED
    other_tags = [*history[:2], rec("v3", props("c", AFTER + timedelta(minutes=1), C,
                                                thumbprint="aa", tags={"svc": "x"}))]
    assert one(plan(rolled("c", other_tags, C))).action == A.ROLL_BACK


def test_a_disabled_version_a_non_exportable_certificate_and_a_key_cannot_roll_back():
    disabled = [rec("v1", props("a", BEFORE, enabled=False)), rec("v2", props("a", AFTER))]
    item = one(plan(rolled("a", disabled)))
    assert item.action == A.CANNOT and "disabled" in item.reason

    cert = [rec("v1", props("c", BEFORE, C, thumbprint="aa")),
            rec("v2", props("c", AFTER, C, thumbprint="bb"))]
    reads = rolled("c", cert, C, exportable={("east", "certificate/c"): False})
    assert "not exportable" in one(plan(reads)).reason

    key = [rec("v1", props("k", BEFORE, K)), rec("v2", props("k", AFTER, K))]
    item = one(plan(rolled("k", key, K)))
    assert item.action == A.CANNOT and "keys cannot go back" in item.reason


def test_an_unread_version_list_is_named_and_makes_the_plan_incomplete():
    reads = RestoreReads(primary="east", items=(props("a", AFTER),),
                         unread={("east", "secret/a"): "[vault.throttled] slow down"})
    p = plan(reads)
    assert one(p).action == A.CANNOT and "vault.throttled" in one(p).reason
    assert not p.complete


# --- soft-deleted items ---------------------------------------------------------------------


def test_deleted_after_time_is_recovered_and_rolled_back_when_its_latest_is_newer():
    reads = RestoreReads(primary="east", deleted=(
        DeletedRecord(props("kept", BEFORE), AFTER),
        DeletedRecord(props("rotated", AFTER), AFTER + timedelta(minutes=1)),
        DeletedRecord(props("old", LONG_BEFORE), BEFORE),
        DeletedRecord(props("k", BEFORE, K), AFTER)))
    by_name = {i.name: i for i in plan(reads).items}
    assert by_name["kept"].action == A.RECOVER
    assert (by_name["rotated"].action, by_name["rotated"].until) == (
        A.RECOVER_AND_ROLL_BACK, T)
    assert "old" not in by_name  # deleted before TIME: absent then and now
    assert by_name["k"].action == A.CANNOT and "az keyvault key recover" in by_name["k"].reason


def test_a_soft_deleted_name_is_not_taken_for_a_purged_one():
    copy = props("a", BEFORE, link=LinkTag("east", tok(BEFORE), 1, tok(BEFORE)))
    reads = RestoreReads(primary="east", deleted=(DeletedRecord(props("a", LONG_BEFORE),
                                                                BEFORE),),
                         others={"west": Inventory.of("west", [copy])})
    assert plan(reads).items == ()
    assert copies_wanted(reads, ALL, T) == {}


# --- gone from the primary: the secondaries' copies -----------------------------------------


def _copy(name: str, origin: datetime, copied: datetime, kind: ItemKind = S, *,
          confirmed: bool = True, **kw) -> ItemProps:
    link = LinkTag("east", tok(origin), 1, tok(copied) if confirmed else None)
    return props(name, copied, kind, link=link, **kw)


def test_a_purged_item_comes_back_from_the_latest_proven_copy_of_any_secondary():
    west_old = _copy("a", LONG_BEFORE, LONG_BEFORE)
    west_new = _copy("a", BEFORE, BEFORE)
    europe = _copy("a", LONG_BEFORE + timedelta(hours=1), LONG_BEFORE + timedelta(hours=1))
    too_new = _copy("a", AFTER, AFTER)  # the bad version, synced before the purge
    reads = RestoreReads(
        primary="east",
        others={"west": Inventory.of("west", [too_new]), "europe": Inventory.of("europe",
                                                                                [europe])},
        copies={("west", "secret/a"): (rec("w1", west_old), rec("w2", west_new),
                                       rec("w3", too_new)),
                ("europe", "secret/a"): (rec("e1", europe),)})
    assert copies_wanted(reads, ALL, T) == {"europe": [(S, "a")], "west": [(S, "a")]}
    item = one(plan(reads))
    assert (item.action, item.source_region, item.version, item.created) == (
        A.FROM_SECONDARY, "west", "w2", BEFORE.replace(microsecond=0))


def test_copies_that_prove_nothing_are_not_restored():
    pending = _copy("a", BEFORE, BEFORE, confirmed=False)
    newer = _copy("b", AFTER, AFTER)
    unlinked = props("c", BEFORE)
    reads = RestoreReads(
        primary="east", others={"west": Inventory.of("west", [pending, newer, unlinked])},
        copies={("west", "secret/a"): (rec("w1", pending),),
                ("west", "secret/b"): (rec("w2", newer),),
                ("west", "secret/c"): (rec("w3", unlinked),)})
    assert plan(reads).items == ()


def test_a_primary_history_that_starts_after_time_is_restored_from_a_copy_once():
    copy = _copy("a", BEFORE, BEFORE)
    recreated = rec("p1", props("a", AFTER))
    reads = rolled("a", [recreated], others={"west": Inventory.of("west", [copy])},
                   copies={("west", "secret/a"): (rec("w1", copy),)})
    assert copies_wanted(reads, ALL, T) == {"west": [(S, "a")]}
    item = one(plan(reads))
    assert (item.action, item.version, item.source_region) == (A.FROM_SECONDARY, "w1", "west")
    restored = rec("p2", props("a", AFTER + timedelta(minutes=1),
                               tags=marked("w1", "p2", "west")))
    done = rolled("a", [recreated, restored], others=reads.others, copies=reads.copies)
    assert one(plan(done)).action == A.UNCHANGED


def test_items_created_after_time_are_new_reported_or_disabled_never_deleted():
    reads = rolled("a", [rec("p1", props("a", AFTER))])
    assert one(plan(reads)).action == A.REPORT_NEW
    assert one(plan(reads, disable_new=True)).action == A.DISABLE_NEW
    off = rolled("a", [rec("p1", props("a", AFTER, enabled=False))])
    item = one(plan(off, disable_new=True))
    assert item.action == A.REPORT_NEW and "disabled" in item.reason
    key = rolled("k", [rec("p1", props("k", AFTER, K))], K)
    assert one(plan(key, disable_new=True)).action == A.REPORT_NEW  # keys: never written


def test_a_purged_key_with_a_copy_is_reported():
    copy = _copy("k", BEFORE, BEFORE, K)
    item = one(plan(RestoreReads(primary="east", others={"west": Inventory.of("west",
                                                                               [copy])})))
    assert item.action == A.CANNOT and item.source_region == "west"


def test_an_unread_secondary_makes_a_missing_item_unknown_not_new():
    reads = rolled("a", [rec("p1", props("a", AFTER))],
                   unread={("west", "*"): "[vault.unreachable] the inventory was not read"})
    p = plan(reads)
    assert one(p).action == A.CANNOT and "vault.unreachable" in one(p).reason
    assert not p.complete


# --- scope ----------------------------------------------------------------------------------


def test_scope_globs_are_case_insensitive_and_reserved_and_backing_items_never_in_scope():
    scope = RestoreScope(kinds=(S,), names=("App-*", "db-?"))
    assert scope.matches(S, "app-one") and scope.matches(S, "APP-two")
    assert scope.matches(S, "DB-1") and not scope.matches(S, "db-12")
    assert not scope.matches(C, "app-one")  # kind not in scope
    assert not RestoreScope().matches(S, "kvdr-topology")
    assert RestoreScope().matches(S, "anything")
    items = (props("app-x", AFTER), props("other", AFTER), props("app-cert", AFTER, managed=True),
             props("kvdr-renewal-c-1", AFTER))
    assert history_wanted(items, scope, T) == [(S, "app-x")]
    assert RestoreScope.from_dict(scope.to_dict()) == scope
    assert RestoreScope.from_dict({}) == RestoreScope()


# --- the plan's shape -----------------------------------------------------------------------


def test_a_plan_round_trips_compactly_and_counts_by_action_and_kind():
    reads = RestoreReads(
        primary="east", items=(props("u", BEFORE), props("k", BEFORE, K)),
        deleted=(DeletedRecord(props("d", BEFORE), AFTER),
                 DeletedRecord(props("r", AFTER), AFTER)))
    p = plan(reads, scope=RestoreScope(kinds=(S, K), names=("*",)))
    assert p.counts() == {"unchanged": {"secret": 1, "key": 1}, "recover": {"secret": 1},
                          "recover_and_roll_back": {"secret": 1}}
    data = p.to_dict()
    assert RestorePlan.from_dict(data) == p
    assert RestorePlan.from_dict(p.to_dict(with_items=False), items=data["items"]) == p
    assert data["items"][0] == {"kind": "secret", "name": "d", "action": "recover",
                                "created": "2025-03-01T01:00:00Z",
                                "reason": data["items"][0]["reason"]}
    assert [i.name for i in p.executable] == ["d", "r"]
    new = RestoreItem(S, "n", A.REPORT_NEW)
    with_new = RestorePlan(as_of=T, primary="east", epoch=4, items=(new, *p.items))
    assert new not in with_new.executable and new in with_new.executable_with(True)


def test_an_item_the_full_sync_saw_missing_before_time_is_not_brought_back():
    """A copy on a secondary outlives a purge (deletions are not mirrored by default): the
    full sync's first sighting of the item missing from the primary tells a purge before TIME,
    which a restore to TIME must not undo, from one after it, which it must."""
    copy = _copy("a", LONG_BEFORE, LONG_BEFORE)

    def reads(since: datetime | None) -> RestoreReads:
        return RestoreReads(primary="east", others={"west": Inventory.of("west", [copy])},
                            copies={("west", "secret/a"): (rec("w1", copy),)},
                            missing_since={} if since is None else {"secret/a": since})

    assert plan(reads(BEFORE)).items == ()  # already gone at TIME
    after = one(plan(reads(AFTER)))
    assert after.action == A.FROM_SECONDARY and "first saw it missing" in after.reason
    unknown = one(plan(reads(None)))  # no record: restored, and the reason says why unsure
    assert unknown.action == A.FROM_SECONDARY and "cannot tell apart" in unknown.reason
