"""The planner's decision table, deletion grace and breaker, ordering and serialisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kvdr.config.schema import (
    ConflictPolicy,
    DeletionPolicy,
    KeyPolicy,
    Policies,
    SoftDeletedTargetPolicy,
)
from kvdr.sync.history import HistoryMatch, history_checks, match_history, resolve_history
from kvdr.sync.model import PlanAction, Reason, SyncMode, SyncPlan
from kvdr.sync.plan import apply_deletion_breaker, plan_sync
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps
from kvdr.vault.links import LinkTag

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET, CERT, KEY = ItemKind.SECRET, ItemKind.CERTIFICATE, ItemKind.KEY
MIRROR = Policies(deletions=DeletionPolicy.MIRROR, deletion_grace_period=timedelta(days=7),
                  deletion_breaker_max_items=100, deletion_breaker_max_percent=100)


def copy_of(version: str, copy_version: str | None, region: str = "eastus") -> LinkTag:
    return LinkTag(region, version, 1, copy_version)


def plan(source_items=(), target_items=(), *, policies: Policies | None = None,
         same_subscription=True, same_geography=True, first_seen=None, deleted=(),
         source_complete=True, mode: SyncMode = SyncMode.SYNC) -> SyncPlan:
    return plan_sync(
        Inventory.of("eastus", source_items, complete=source_complete),
        Inventory.of("westus", target_items, deleted=frozenset(deleted)),
        source_region="eastus", target_region="westus", policies=policies or Policies(),
        same_subscription=same_subscription, same_geography=same_geography, now=NOW,
        first_seen_missing=first_seen, epoch=4, mode=mode)


def only(result: SyncPlan):
    assert len(result.items) == 1, result.items
    return result.items[0]


# --- secrets ------------------------------------------------------------------------------------


def test_missing_in_target_is_created_with_a_pending_link_to_the_source_version():
    item = only(plan([ItemProps(SECRET, "db", "v1")]))
    assert item.action == PlanAction.CREATE
    assert item.link == LinkTag("eastus", "v1", 4, None)
    assert item.source.version == "v1" and item.target_version is None


def test_target_linked_to_the_latest_source_version_with_equal_metadata_is_unchanged():
    s = ItemProps(SECRET, "db", "v2", content_type="text/plain", tags={"team": "a"})
    t = ItemProps(SECRET, "DB", "w2", content_type="text/plain", tags={"team": "a"},
                  link=copy_of("v2", "w2"))
    assert only(plan([s], [t])).action == PlanAction.UNCHANGED  # names match case-insensitively


@pytest.mark.parametrize("change", [
    {"content_type": "application/json"}, {"enabled": False},
    {"not_before": NOW}, {"expires": NOW + timedelta(days=1)}, {"tags": {"team": "b"}}])
def test_linked_to_latest_but_metadata_differs_updates_attributes_only(change):
    base = dict(content_type="text/plain", tags={"team": "a"})
    s = ItemProps(SECRET, "db", "v2", **{**base, **change})
    t = ItemProps(SECRET, "db", "w2", **base, link=copy_of("v2", "w2"))
    item = only(plan([s], [t]))
    assert item.action == PlanAction.UPDATE_ATTRIBUTES
    assert item.link == t.link  # the attributes update keeps the confirmed link


def test_target_linked_to_an_older_source_version_updates_the_value():
    item = only(plan([ItemProps(SECRET, "db", "v3")],
                     [ItemProps(SECRET, "db", "w2", link=copy_of("v2", "w2"))]))
    assert item.action == PlanAction.UPDATE_VALUE
    assert item.link == LinkTag("eastus", "v3", 4, None)
    assert item.target_version == "w2"
    assert not item.drift


def test_target_written_outside_kvdr_is_reported_as_drift_by_default():
    item = only(plan([ItemProps(SECRET, "db", "v1")], [ItemProps(SECRET, "db", "w9")]))
    assert (item.action, item.reason, item.drift) == (PlanAction.CONFLICT, Reason.DRIFT, True)


def test_drift_is_overwritten_and_flagged_when_the_primary_wins():
    item = only(plan([ItemProps(SECRET, "db", "v1")], [ItemProps(SECRET, "db", "w9")],
                     policies=Policies(conflicts=ConflictPolicy.PRIMARY_WINS)))
    assert (item.action, item.reason, item.drift) == (
        PlanAction.UPDATE_VALUE, Reason.DRIFT_OVERWRITTEN, True)


def test_a_new_target_version_that_copied_the_link_tag_is_drift_not_in_sync():
    # a rotation script wrote w3 with w2's tags: the link names w2, not w3
    t = ItemProps(SECRET, "db", "w3", link=copy_of("v2", "w2"))
    item = only(plan([ItemProps(SECRET, "db", "v2")], [t]))
    assert item.action == PlanAction.CONFLICT


def test_a_new_source_version_that_copied_a_link_tag_is_replicated():
    # after failover westus->eastus copies carry links; a rotation in the new primary that
    # kept the tags must still reach the other vault
    s = ItemProps(SECRET, "db", "v7", link=LinkTag("westus", "w1", 2, "v6"))
    t = ItemProps(SECRET, "db", "w1")
    item = only(plan([s], [t], policies=Policies(conflicts=ConflictPolicy.PRIMARY_WINS)))
    assert item.action == PlanAction.UPDATE_VALUE
    assert item.link == LinkTag("eastus", "v7", 4, None)


def test_source_that_is_a_copy_of_the_target_version_is_in_sync():
    # after a failover: the new primary's item is a confirmed copy of the old primary's version
    s = ItemProps(SECRET, "db", "v5", link=LinkTag("westus", "w1", 1, "v5"))
    t = ItemProps(SECRET, "db", "w1")
    assert only(plan([s], [t])).action == PlanAction.UNCHANGED


def test_copies_of_the_same_origin_in_two_regions_are_in_sync():
    s = ItemProps(SECRET, "db", "v5", link=LinkTag("centralus", "c1", 1, "v5"))
    t = ItemProps(SECRET, "db", "w5", link=LinkTag("centralus", "c1", 1, "w5"))
    assert only(plan([s], [t])).action == PlanAction.UNCHANGED


def test_copy_of_a_copy_links_to_the_origin():
    s = ItemProps(SECRET, "db", "v5", link=LinkTag("centralus", "c1", 1, "v5"))
    assert only(plan([s])).link == LinkTag("centralus", "c1", 4, None)


def test_unconfirmed_link_to_the_same_content_is_verified_by_fingerprint():
    t = ItemProps(SECRET, "db", "w2", link=copy_of("v2", None))
    item = only(plan([ItemProps(SECRET, "db", "v2")], [t]))
    assert (item.action, item.reason) == (PlanAction.VERIFY_FINGERPRINT, Reason.UNCONFIRMED_LINK)


def test_unconfirmed_link_to_an_older_version_updates_the_value():
    t = ItemProps(SECRET, "db", "w2", link=copy_of("v1", None))
    assert only(plan([ItemProps(SECRET, "db", "v2")], [t])).action == PlanAction.UPDATE_VALUE


def full_tags(n: int = 15) -> dict[str, str]:
    return {f"t{i:02}": str(i) for i in range(n)}


def test_source_without_room_for_the_link_is_created_without_one():
    item = only(plan([ItemProps(SECRET, "db", "v1", tags=full_tags())]))
    assert (item.action, item.link, item.reason) == (PlanAction.CREATE, None, Reason.NO_ROOM)


def test_item_without_room_for_the_link_is_verified_by_fingerprint():
    s = ItemProps(SECRET, "db", "v1", tags=full_tags())
    t = ItemProps(SECRET, "db", "w1", tags=full_tags())
    item = only(plan([s], [t]))
    assert (item.action, item.reason, item.link) == (
        PlanAction.VERIFY_FINGERPRINT, Reason.NO_ROOM, None)


def test_target_without_room_is_verified_even_when_the_source_has_room():
    t = ItemProps(SECRET, "db", "w1", tags=full_tags())
    item = only(plan([ItemProps(SECRET, "db", "v1")], [t]))
    assert item.action == PlanAction.VERIFY_FINGERPRINT


def test_certificate_backing_secret_is_skipped():
    item = only(plan([ItemProps(SECRET, "web", "v1", managed=True)]))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.BACKING_SECRET)


def test_target_only_backing_secret_is_not_planned_at_all():
    assert plan([], [ItemProps(SECRET, "web", "w1", managed=True)], policies=MIRROR).items == ()


def test_certificate_backing_key_is_skipped_not_restored():
    item = only(plan([ItemProps(KEY, "web", "k1", managed=True)]))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.BACKING_KEY)


def test_target_only_backing_key_is_not_planned_at_all():
    assert plan([], [ItemProps(KEY, "web", "w1", managed=True)], policies=MIRROR).items == ()


def test_source_secret_over_a_target_backing_secret_is_a_conflict():
    item = only(plan([ItemProps(SECRET, "web", "v1")],
                     [ItemProps(SECRET, "web", "w1", managed=True)]))
    assert (item.action, item.reason) == (PlanAction.CONFLICT, Reason.TARGET_IS_BACKING)


def test_disabled_secret_without_a_copy_cannot_be_read():
    item = only(plan([ItemProps(SECRET, "db", "v1", enabled=False)]))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.DISABLED)


def test_disabled_secret_with_a_linked_copy_replicates_attributes_only():
    t = ItemProps(SECRET, "db", "w1", link=copy_of("v1", "w1"))
    item = only(plan([ItemProps(SECRET, "db", "v2", enabled=False)], [t]))
    assert (item.action, item.reason) == (PlanAction.UPDATE_ATTRIBUTES,
                                          Reason.DISABLED_ATTRIBUTES_ONLY)


def test_disabled_secret_already_in_sync_just_disables_the_copy():
    t = ItemProps(SECRET, "db", "w1", link=copy_of("v1", "w1"))
    item = only(plan([ItemProps(SECRET, "db", "v1", enabled=False)], [t]))
    assert item.action == PlanAction.UPDATE_ATTRIBUTES


def test_disabled_secret_over_drift_is_a_conflict():
    item = only(plan([ItemProps(SECRET, "db", "v1", enabled=False)],
                     [ItemProps(SECRET, "db", "w1")],
                     policies=Policies(conflicts=ConflictPolicy.PRIMARY_WINS)))
    assert (item.action, item.reason) == (PlanAction.CONFLICT, Reason.DRIFT_DISABLED)


def test_soft_deleted_name_in_target_is_recovered_then_written_by_default():
    item = only(plan([ItemProps(SECRET, "db", "v1")], deleted=["secret/DB"]))
    assert (item.action, item.recover_first) == (PlanAction.CREATE, True)
    assert item.reason == Reason.SOFT_DELETED_RECOVER


def test_soft_deleted_name_in_target_is_reported_when_policy_says_so():
    item = only(plan([ItemProps(SECRET, "db", "v1")], deleted=["secret/db"],
                     policies=Policies(soft_deleted_target=SoftDeletedTargetPolicy.REPORT)))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.SOFT_DELETED_REPORT)


def test_reserved_names_are_never_planned():
    result = plan([ItemProps(SECRET, "kvdr-topology", "v1")],
                  [ItemProps(SECRET, "KVDR-topology", "w1"), ItemProps(SECRET, "kvdr-x", "w")],
                  policies=MIRROR)
    assert result.items == ()


# --- certificates -------------------------------------------------------------------------------


def test_non_exportable_certificate_must_be_provisioned_independently():
    item = only(plan([ItemProps(CERT, "web", "v1", exportable=False)]))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.NON_EXPORTABLE)


def test_exportable_certificate_missing_in_target_is_created():
    assert only(plan([ItemProps(CERT, "web", "v1", exportable=True)])).action == PlanAction.CREATE


def test_certificates_with_equal_thumbprints_are_in_sync_without_a_link():
    s = ItemProps(CERT, "web", "v1", exportable=True, thumbprint="AB12", tags=full_tags())
    t = ItemProps(CERT, "web", "w1", thumbprint="ab12", tags=full_tags())
    assert only(plan([s], [t])).action == PlanAction.UNCHANGED


def test_certificate_validity_dates_are_not_compared_as_attributes():
    s = ItemProps(CERT, "web", "v1", thumbprint="ab", expires=NOW, content_type="x")
    t = ItemProps(CERT, "web", "w1", thumbprint="ab", expires=NOW + timedelta(days=1))
    assert only(plan([s], [t])).action == PlanAction.UNCHANGED


def test_linked_certificate_with_a_new_thumbprint_updates_the_value():
    s = ItemProps(CERT, "web", "v2", thumbprint="cd")
    t = ItemProps(CERT, "web", "w1", thumbprint="ab", link=copy_of("v1", "w1"))
    assert only(plan([s], [t])).action == PlanAction.UPDATE_VALUE


def test_unlinked_certificate_with_another_thumbprint_is_drift():
    s = ItemProps(CERT, "web", "v2", thumbprint="cd")
    t = ItemProps(CERT, "web", "w1", thumbprint="ab")
    assert only(plan([s], [t])).action == PlanAction.CONFLICT


# --- keys ---------------------------------------------------------------------------------------


def test_key_is_restored_when_subscription_and_geography_match_and_name_is_free():
    item = only(plan([ItemProps(KEY, "sign", "k1", key_type="RSA")]))
    assert (item.action, item.reason) == (PlanAction.CREATE, Reason.KEY_RESTORE)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"same_subscription": False}, Reason.KEY_SUBSCRIPTION),
    ({"same_geography": False}, Reason.KEY_GEOGRAPHY),
    ({"policies": Policies(keys=KeyPolicy.REPORT)}, Reason.KEY_POLICY),
    ({"deleted": ["key/sign"]}, Reason.KEY_SOFT_DELETED),
])
def test_key_that_cannot_be_restored_is_reported_provision_independently(kwargs, reason):
    item = only(plan([ItemProps(KEY, "sign", "k1")], **kwargs))
    assert (item.action, item.reason) == (PlanAction.SKIP, reason)
    assert item.reason.startswith("provision independently")


def test_existing_different_key_in_target_is_skipped():
    item = only(plan([ItemProps(KEY, "sign", "k2")], [ItemProps(KEY, "sign", "x1")]))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.KEY_EXISTS)


def test_restored_key_with_the_same_version_is_unchanged_or_gets_attributes():
    assert only(plan([ItemProps(KEY, "sign", "k1")],
                     [ItemProps(KEY, "sign", "k1")])).action == PlanAction.UNCHANGED
    assert only(plan([ItemProps(KEY, "sign", "k1", enabled=False)],
                     [ItemProps(KEY, "sign", "k1")])).action == PlanAction.UPDATE_ATTRIBUTES


# --- items only in the target -------------------------------------------------------------------


def ours(name: str = "old", kind: ItemKind = SECRET) -> ItemProps:
    return ItemProps(kind, name, "w1", link=copy_of("v1", "w1"))


def test_target_only_items_are_reported_not_deleted_by_default():
    item = only(plan([], [ours()]))
    assert (item.action, item.reason) == (PlanAction.TARGET_ONLY, Reason.TARGET_ONLY_IGNORED)
    assert item.target_version == "w1"


def test_first_sighting_starts_the_grace_period():
    result = plan([], [ours()], policies=MIRROR)
    item = only(result)
    assert item.action == PlanAction.TARGET_ONLY
    assert "soft-delete due after 2026-03-08T12:00:00Z" in item.reason
    assert result.missing_since == {"secret/old": NOW}


def test_copy_is_a_delete_candidate_once_the_grace_period_has_passed():
    result = plan([], [ours()], policies=MIRROR,
                  first_seen={"secret/old": NOW - timedelta(days=7)})
    item = only(result)
    assert (item.action, item.target_version) == (PlanAction.DELETE_CANDIDATE, "w1")
    assert result.missing_since == {"secret/old": NOW - timedelta(days=7)}


def test_grace_period_not_yet_over_keeps_the_first_sighting():
    since = NOW - timedelta(days=6, hours=23)
    result = plan([], [ours()], policies=MIRROR, first_seen={"secret/old": since})
    assert only(result).action == PlanAction.TARGET_ONLY
    assert result.missing_since == {"secret/old": since}


def test_items_back_in_the_source_drop_out_of_missing_since():
    result = plan([ItemProps(SECRET, "old", "v1")], [ours()], policies=MIRROR,
                  first_seen={"secret/old": NOW - timedelta(days=30)})
    assert result.missing_since == {}


def test_items_kvdr_did_not_write_are_never_deletion_candidates():
    item = only(plan([], [ItemProps(SECRET, "local", "w1")], policies=MIRROR,
                     first_seen={"secret/local": NOW - timedelta(days=30)}))
    assert (item.action, item.reason) == (PlanAction.TARGET_ONLY, Reason.TARGET_ONLY_NOT_OURS)


def test_primary_wins_makes_unlinked_target_only_items_candidates():
    policies = Policies(deletions=DeletionPolicy.MIRROR, conflicts=ConflictPolicy.PRIMARY_WINS,
                        deletion_grace_period=timedelta(0), deletion_breaker_max_percent=100)
    item = only(plan([], [ItemProps(KEY, "local", "w1")], policies=policies))
    assert item.action == PlanAction.DELETE_CANDIDATE


def test_incomplete_source_inventory_never_yields_deletions():
    item = only(plan([], [ours()], policies=MIRROR, source_complete=False,
                     first_seen={"secret/old": NOW - timedelta(days=30)}))
    assert (item.action, item.reason) == (PlanAction.TARGET_ONLY, Reason.TARGET_ONLY_INCOMPLETE)


# --- breaker ------------------------------------------------------------------------------------


def deletions_plan(n_deleted: int, n_kept: int, policies: Policies) -> SyncPlan:
    kept = [ItemProps(SECRET, f"keep{i:03}", f"v{i}") for i in range(n_kept)]
    kept_copies = [ItemProps(SECRET, f"keep{i:03}", f"w{i}", link=copy_of(f"v{i}", f"w{i}"))
                   for i in range(n_kept)]
    gone = [ours(f"gone{i:03}") for i in range(n_deleted)]
    first = {f"secret/gone{i:03}": NOW - timedelta(days=8) for i in range(n_deleted)}
    return plan(kept, kept_copies + gone, policies=policies, first_seen=first)


def test_breaker_blocks_every_deletion_above_the_item_limit():
    policies = Policies(deletions=DeletionPolicy.MIRROR, deletion_breaker_max_items=2,
                        deletion_breaker_max_percent=100)
    result = deletions_plan(3, 97, policies)
    assert result.of_action(PlanAction.DELETE_CANDIDATE) == ()
    assert len(result.of_action(PlanAction.BLOCKED)) == 3
    assert "3 deletions exceed the limit of 2 items" in result.blocked_reason
    assert all(i.reason == result.blocked_reason for i in result.of_action(PlanAction.BLOCKED))
    assert len(result.of_action(PlanAction.UNCHANGED)) == 97  # the rest still executes


def test_breaker_blocks_above_the_percentage_of_the_target():
    policies = Policies(deletions=DeletionPolicy.MIRROR, deletion_breaker_max_items=100,
                        deletion_breaker_max_percent=5)
    result = deletions_plan(6, 94, policies)
    assert result.target_item_count == 100
    assert "6.0% of the target's 100 items exceeds the limit of 5%" in result.blocked_reason


def test_breaker_lets_deletions_at_the_limits_through():
    policies = Policies(deletions=DeletionPolicy.MIRROR, deletion_breaker_max_items=5,
                        deletion_breaker_max_percent=5)
    result = deletions_plan(5, 95, policies)
    assert result.blocked_reason is None
    assert len(result.of_action(PlanAction.DELETE_CANDIDATE)) == 5


def test_breaker_with_zero_items_blocks_any_deletion_and_ignores_plans_without_any():
    result = deletions_plan(1, 999, MIRROR)
    assert apply_deletion_breaker(result, 0, 100).blocked_reason is not None
    clean = plan([ItemProps(SECRET, "a", "v1")])
    assert apply_deletion_breaker(clean, 0, 0.1) is clean


# --- plan shape ---------------------------------------------------------------------------------


def mixed_plan() -> SyncPlan:
    return plan(
        [ItemProps(KEY, "k", "k1"), ItemProps(SECRET, "b", "v1"), ItemProps(CERT, "c", "v1"),
         ItemProps(SECRET, "A", "v1"), ItemProps(SECRET, "same", "v1"),
         ItemProps(SECRET, "dis", "v1", enabled=False)],
        [ItemProps(SECRET, "same", "w1", link=copy_of("v1", "w1"))])


def test_items_are_ordered_by_kind_then_name():
    assert [(i.kind, i.name) for i in mixed_plan().items] == [
        (SECRET, "A"), (SECRET, "b"), (SECRET, "dis"), (SECRET, "same"), (CERT, "c"),
        (KEY, "k")]


def test_counts_per_action_and_kind():
    assert mixed_plan().counts() == {"create": {"secret": 2, "certificate": 1, "key": 1},
                                     "skip": {"secret": 1}, "unchanged": {"secret": 1}}


def test_batches_hold_only_executable_items_in_order():
    batches = mixed_plan().batches(3)
    assert [[i.name for i in b] for b in batches] == [["A", "b", "c"], ["k"]]
    with pytest.raises(ValueError):
        mixed_plan().batches(0)


def test_plan_round_trips_through_json():
    result = deletions_plan(3, 2, MIRROR)
    assert SyncPlan.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    blocked = apply_deletion_breaker(result, 0, 100)
    assert SyncPlan.from_dict(json.loads(json.dumps(blocked.to_dict()))) == blocked


def test_plan_carries_no_values():
    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)
    assert not {"value", "secret_value", "cer", "pfx"} & set(keys(mixed_plan().to_dict()))


# --- modes: reconcile (eastus about to become primary -> westus, the current primary) ----------

RECONCILE = SyncMode.RECONCILE
PRIMARY_WINS = Policies(conflicts=ConflictPolicy.PRIMARY_WINS)


def from_west(version: str, copy_version: str | None) -> LinkTag:
    return LinkTag("westus", version, 2, copy_version)


def test_sync_modes_are_named_for_the_runbook_steps():
    assert [str(m) for m in SyncMode] == ["sync", "reconcile", "drain"]


def test_reconcile_creates_what_only_the_source_wrote_with_a_link_at_the_given_epoch():
    item = only(plan([ItemProps(SECRET, "new", "v1")], mode=RECONCILE))
    assert item.action == PlanAction.CREATE
    assert item.link == LinkTag("eastus", "v1", 4, None)


@pytest.mark.parametrize("link", [from_west("w1", "v5"), from_west("w1", None),
                                  LinkTag("centralus", "c1", 1, "v5")])
def test_reconcile_leaves_out_source_items_that_are_kvdr_copies_from_elsewhere(link):
    s = ItemProps(SECRET, "copied", "v5", link=link)
    t = ItemProps(SECRET, "copied", "w9")  # even when the target changed since
    assert plan([s], [t], mode=RECONCILE).items == ()
    assert plan([s], mode=RECONCILE).items == ()


def test_reconcile_treats_a_stale_link_or_its_own_origin_as_original_to_the_source():
    stale = ItemProps(SECRET, "rotated", "v7", link=from_west("w1", "v6"))  # tags copied
    own = ItemProps(SECRET, "back", "v8", link=LinkTag("eastus", "v2", 1, "v8"))
    assert [i.action for i in plan([stale, own], mode=RECONCILE).items] == [
        PlanAction.CREATE, PlanAction.CREATE]


def test_reconcile_updates_a_target_copy_of_an_older_source_version():
    t = ItemProps(SECRET, "db", "w2", link=copy_of("v2", "w2"))
    item = only(plan([ItemProps(SECRET, "db", "v3")], [t], mode=RECONCILE))
    assert (item.action, item.target_version) == (PlanAction.UPDATE_VALUE, "w2")
    assert item.link == LinkTag("eastus", "v3", 4, None)


def test_reconcile_leaves_a_target_linked_to_the_source_latest_unchanged_even_if_metadata_differ():
    s = ItemProps(SECRET, "db", "v2", tags={"team": "a"})
    t = ItemProps(SECRET, "db", "w2", tags={"team": "b"}, link=copy_of("v2", "w2"))
    assert only(plan([s], [t], mode=RECONCILE)).action == PlanAction.UNCHANGED


@pytest.mark.parametrize("policies", [Policies(), PRIMARY_WINS])
@pytest.mark.parametrize("t", [
    ItemProps(SECRET, "db", "w9"),                                  # written in the target
    ItemProps(SECRET, "db", "w9", link=copy_of("v1", "w2")),        # rotated keeping the tags
    ItemProps(SECRET, "db", "w9", link=LinkTag("centralus", "c1", 1, "w9"))])  # a third region
def test_reconcile_reports_a_target_changed_since_as_a_conflict_whatever_the_policy(t, policies):
    item = only(plan([ItemProps(SECRET, "db", "v3")], [t], policies=policies, mode=RECONCILE))
    assert (item.action, item.reason) == (PlanAction.CONFLICT, Reason.RECONCILE_CONFLICT)
    assert item.action not in {PlanAction.UPDATE_VALUE, PlanAction.VERIFY_FINGERPRINT}


def test_reconcile_cannot_tell_link_less_items_apart_and_reports_them():
    s = ItemProps(SECRET, "full", "v3", tags=full_tags())
    t = ItemProps(SECRET, "full", "w2", tags=full_tags())
    item = only(plan([s], [t], mode=RECONCILE))
    assert (item.action, item.reason) == (PlanAction.CONFLICT, Reason.RECONCILE_NO_ROOM)


def test_reconcile_never_writes_a_disabled_source_version_over_the_current_primary():
    t = ItemProps(SECRET, "db", "w2", link=copy_of("v2", "w2"))
    item = only(plan([ItemProps(SECRET, "db", "v3", enabled=False)], [t], mode=RECONCILE))
    assert (item.action, item.reason) == (PlanAction.SKIP, Reason.RECONCILE_DISABLED)


def test_reconcile_plans_no_deletions_and_does_not_list_target_only_items():
    policies = Policies(deletions=DeletionPolicy.MIRROR, conflicts=ConflictPolicy.PRIMARY_WINS,
                        deletion_grace_period=timedelta(0))
    result = plan([], [ours("old"), ItemProps(SECRET, "theirs", "w1")], policies=policies,
                  first_seen={"secret/old": NOW - timedelta(days=30)}, mode=RECONCILE)
    assert result.items == () and result.missing_since == {}


# --- reconcile: the target's version history (pure helpers; the activity lists the versions) --

ID_A, ID_B = "a" * 32, "b" * 32


def copy_with_id(version: str, copy_version: str, origin_id: str | None = ID_A,
                 region: str = "eastus") -> LinkTag:
    return LinkTag(region, version, 1, copy_version, origin_id=origin_id)


def test_history_checks_are_the_reconcile_conflicts_a_copy_could_explain():
    changed = ItemProps(SECRET, "changed", "w9")
    no_room_t = ItemProps(SECRET, "no-room", "w9", tags=full_tags())
    no_room_s = ItemProps(SECRET, "full", "w9", tags=full_tags())
    backing = ItemProps(SECRET, "backing", "w9", managed=True)
    result = plan([ItemProps(SECRET, "changed", "v3"), ItemProps(SECRET, "no-room", "v3"),
                   ItemProps(SECRET, "full", "v3", tags=full_tags()),
                   ItemProps(SECRET, "backing", "v3")],
                  [changed, no_room_t, no_room_s, backing], mode=RECONCILE)
    assert {i.action for i in result.items} == {PlanAction.CONFLICT}
    # a source without room never had a linked copy; a backing secret is no change at all
    checks = history_checks(result)
    assert [c.item.name for c in checks] == ["changed", "no-room"]
    # is the source's latest in the target's (the current primary's) history?
    assert [(c.subject, c.origin, c.holder) for c in checks] == [
        (c.item.source, "eastus", "westus") for c in checks]
    assert history_checks(plan([ItemProps(SECRET, "db", "v1")], [changed])) == ()


def test_a_confirmed_copy_of_the_source_latest_in_the_target_history_means_it_moved_on():
    s = ItemProps(SECRET, "db", "v3")
    copy = ItemProps(SECRET, "db", "w2", link=copy_of("v3", "w2"))  # token-only (older) link
    rotated = ItemProps(SECRET, "db", "w9", link=copy_of("v3", "w2"))  # tags kept: stale
    assert match_history(s, [copy, rotated], source_region="eastus") == HistoryMatch.REPLACED


@pytest.mark.parametrize("history", [
    [ItemProps(SECRET, "db", "w9", link=copy_of("v3", "w2"))],         # only a stale link
    [ItemProps(SECRET, "db", "w2", link=copy_of("v3", None))],         # pending: unproven
    [ItemProps(SECRET, "db", "w2", link=copy_of("v2", "w2"))],         # an older version
    [ItemProps(SECRET, "db", "w2", link=copy_of("v3", "w2", "westus"))],  # another origin
    [ItemProps(SECRET, "db", "w2")], []])
def test_no_confirmed_copy_of_the_source_latest_is_a_real_conflict(history):
    assert match_history(ItemProps(SECRET, "db", "v3"), history,
                         source_region="eastus") == HistoryMatch.NOT_COPIED


def test_a_copy_naming_an_origin_id_is_checked_against_every_source_version_of_that_second():
    s = ItemProps(SECRET, "db", "v3")
    history = [ItemProps(SECRET, "db", "w2", link=copy_with_id("v3", "w2", ID_A)),
               ItemProps(SECRET, "db", "w9")]

    def match(ids):
        return match_history(s, history, source_region="eastus", source_ids=ids)

    assert match(None) == HistoryMatch.NEEDS_SOURCE_IDS
    assert match([ID_A.upper()]) == HistoryMatch.REPLACED
    assert match([ID_B]) == HistoryMatch.NOT_COPIED  # same second, another version
    assert match([ID_A, ID_B]) == HistoryMatch.NOT_COPIED  # which is latest? B was not copied
    assert match([]) == HistoryMatch.NOT_COPIED
    both = [*history, ItemProps(SECRET, "db", "w5", link=copy_with_id("v3", "w5", ID_B))]
    assert match_history(s, both, source_region="eastus",
                         source_ids=[ID_A, ID_B]) == HistoryMatch.REPLACED


def test_a_source_that_is_itself_a_copy_of_its_own_origin_is_matched_by_its_links_origin_id():
    s = ItemProps(SECRET, "db", "v8", link=copy_with_id("v2", "v8", ID_A))
    copied = [ItemProps(SECRET, "db", "w2", link=copy_with_id("v2", "w2", ID_A))]
    other = [ItemProps(SECRET, "db", "w2", link=copy_with_id("v2", "w2", ID_B))]
    assert match_history(s, copied, source_region="eastus") == HistoryMatch.REPLACED
    assert match_history(s, other, source_region="eastus") == HistoryMatch.NOT_COPIED


def test_certificates_are_matched_by_thumbprint_when_both_are_known():
    s = ItemProps(CERT, "tls", "v3", thumbprint="AA11")
    same = ItemProps(CERT, "tls", "w2", thumbprint="aa11", link=copy_with_id("v3", "w2"))
    other = ItemProps(CERT, "tls", "w2", thumbprint="bb22", link=copy_with_id("v3", "w2"))
    assert match_history(s, [same], source_region="eastus") == HistoryMatch.REPLACED
    assert match_history(s, [other], source_region="eastus") == HistoryMatch.NOT_COPIED


def test_resolving_the_history_skips_replaced_copies_and_keeps_real_conflicts():
    source = [ItemProps(SECRET, n, "v3") for n in ("moved-on", "both", "unread", "new")]
    target = [ItemProps(SECRET, n, "w9") for n in ("moved-on", "both", "unread")]
    before = plan(source, target, mode=RECONCILE)
    after = resolve_history(before, {"secret/moved-on": HistoryMatch.REPLACED,
                                     "secret/both": HistoryMatch.NOT_COPIED,
                                     "secret/unread": HistoryMatch.UNREAD,
                                     "secret/new": HistoryMatch.REPLACED})  # not a candidate
    got = {i.name: (i.action, i.reason, i.target_version) for i in after.items}
    assert got == {
        "moved-on": (PlanAction.SKIP, Reason.RECONCILE_REPLACED, "w9"),
        "both": (PlanAction.CONFLICT, Reason.RECONCILE_CONFLICT, "w9"),
        "unread": (PlanAction.CONFLICT, Reason.RECONCILE_HISTORY_UNREAD, "w9"),
        "new": (PlanAction.CREATE, None, None)}
    assert after.executable == before.executable
    assert resolve_history(before, {}) == before


# --- modes: drain (eastus, the current primary -> westus, about to become primary) -------------


def test_drain_overwrites_drift_as_a_new_version_whatever_the_policy():
    item = only(plan([ItemProps(SECRET, "db", "v1")], [ItemProps(SECRET, "db", "w9")],
                     mode=SyncMode.DRAIN))
    assert (item.action, item.reason, item.drift) == (
        PlanAction.UPDATE_VALUE, Reason.DRIFT_DRAINED, True)
    assert item.link == LinkTag("eastus", "v1", 4, None) and item.target_version == "w9"


def test_drain_otherwise_plans_as_sync_does():
    source = [ItemProps(SECRET, "new", "v1"), ItemProps(SECRET, "same", "v1"),
              ItemProps(SECRET, "dis", "v1", enabled=False)]
    target = [ItemProps(SECRET, "same", "w1", link=copy_of("v1", "w1")),
              ItemProps(SECRET, "theirs", "w1")]
    policies = Policies(deletions=DeletionPolicy.MIRROR, deletion_grace_period=timedelta(0))
    assert plan(source, target, policies=policies, mode=SyncMode.DRAIN) == \
        plan(source, target, policies=policies)


# --- drain: the source's (the current primary's) version history ---------------------------
# eastus is the current primary, westus about to become primary: roles swapped against
# reconcile, the subject is westus's latest and the history is eastus's


def drain_plan(source_items, target_items) -> tuple[SyncPlan, Inventory]:
    target = Inventory.of("westus", target_items)
    result = plan_sync(Inventory.of("eastus", source_items), target, source_region="eastus",
                       target_region="westus", policies=Policies(), same_subscription=True,
                       same_geography=True, now=NOW, epoch=4, mode=SyncMode.DRAIN)
    return result, target


def test_history_checks_ask_the_primary_for_the_drained_targets_latest():
    rotated_t = ItemProps(SECRET, "rotated", "w1")  # westus's own version, no link
    full_t = ItemProps(SECRET, "full", "w1", tags=full_tags(),
                       link=copy_of("v0", "w0"))  # a stale link: drift, not "no room"
    cert_t = ItemProps(CERT, "tls", "w1", thumbprint="bb22")
    result, target = drain_plan(
        [ItemProps(SECRET, "rotated", "v2"), ItemProps(SECRET, "disabled", "v2", enabled=False),
         ItemProps(SECRET, "copy", "v2"), ItemProps(SECRET, "full", "v2"),
         ItemProps(CERT, "tls", "v2", thumbprint="AA11"), ItemProps(KEY, "signing", "v2")],
        [rotated_t, ItemProps(SECRET, "disabled", "w1"),
         ItemProps(SECRET, "copy", "w1", link=copy_of("v1", "w1")), full_t, cert_t,
         ItemProps(KEY, "signing", "w1")])
    drift = {i.name for i in result.items if i.drift and i.action == PlanAction.UPDATE_VALUE}
    assert drift == {"rotated", "full", "tls"}
    checks = history_checks(result, target)
    # drift without room for a link could never have been copied with one; a disabled source
    # over drift stays a conflict (nothing is written); a copy is no drift; keys never change
    assert [(c.item.name, c.subject, c.origin, c.holder) for c in checks] == [
        ("rotated", rotated_t, "westus", "eastus"), ("tls", cert_t, "westus", "eastus")]
    assert history_checks(result) == ()  # the target's latest is needed


def test_a_drained_targets_version_the_primary_held_a_copy_of_is_matched_in_its_history():
    t = ItemProps(SECRET, "db", "w1")  # westus's latest, written there
    primary = [ItemProps(SECRET, "db", "v1", link=copy_with_id("w1", "v1", ID_A, "westus")),
               ItemProps(SECRET, "db", "v2")]  # the copy, then the primary's rotation
    assert match_history(t, primary, source_region="westus") == HistoryMatch.NEEDS_SOURCE_IDS
    assert match_history(t, primary, source_region="westus",
                         source_ids=[ID_A]) == HistoryMatch.REPLACED
    # a westus version of the same second that never reached the primary
    assert match_history(t, primary, source_region="westus",
                         source_ids=[ID_A, ID_B]) == HistoryMatch.NOT_COPIED
    assert match_history(t, primary[1:], source_region="westus") == HistoryMatch.NOT_COPIED


def test_resolving_the_drain_history_keeps_writing_but_drops_drift_the_primary_had():
    names = ("superseded", "diverged", "unread")
    result, _ = drain_plan([ItemProps(SECRET, n, "v2") for n in names],
                           [ItemProps(SECRET, n, "w1") for n in names])
    after = resolve_history(result, {"secret/superseded": HistoryMatch.REPLACED,
                                     "secret/diverged": HistoryMatch.NOT_COPIED,
                                     "secret/unread": HistoryMatch.UNREAD})
    got = {i.name: (i.action, i.reason, i.drift) for i in after.items}
    assert got == {
        "superseded": (PlanAction.UPDATE_VALUE, Reason.DRAIN_SUPERSEDED, False),
        "diverged": (PlanAction.UPDATE_VALUE, Reason.DRIFT_DRAINED, True),
        "unread": (PlanAction.UPDATE_VALUE, Reason.DRIFT_DRAINED, True)}
    # the same writes, with the same links, at the same target versions
    assert [(i.key, i.link, i.target_version) for i in after.executable] == \
        [(i.key, i.link, i.target_version) for i in result.executable]


# --- sync: the source's (the primary's) version history, as in a drain -----------------------
# e.g. westus wrote db while it was primary, a failback drained it into eastus, eastus rotated
# it: westus's latest is its own version, no kvdr copy, yet it had reached the primary


def sync_plan(source_items, target_items, policies: Policies | None = None
              ) -> tuple[SyncPlan, Inventory]:
    target = Inventory.of("westus", target_items)
    result = plan_sync(Inventory.of("eastus", source_items), target, source_region="eastus",
                       target_region="westus", policies=policies or Policies(),
                       same_subscription=True, same_geography=True, now=NOW, epoch=4)
    return result, target


@pytest.mark.parametrize("policies", [Policies(), PRIMARY_WINS], ids=["report", "primary-wins"])
def test_history_checks_ask_the_primary_for_the_latest_of_every_synced_drift(policies):
    rotated_t = ItemProps(SECRET, "rotated", "w1")  # westus's own version, no link
    full_t = ItemProps(SECRET, "full", "w1", tags=full_tags(), link=copy_of("v0", "w0"))
    cert_t = ItemProps(CERT, "tls", "w1", thumbprint="bb22")
    result, target = sync_plan(
        [ItemProps(SECRET, "rotated", "v2"), ItemProps(SECRET, "disabled", "v2", enabled=False),
         ItemProps(SECRET, "copy", "v2"), ItemProps(SECRET, "full", "v2"),
         ItemProps(SECRET, "backing", "v2"), ItemProps(CERT, "tls", "v2", thumbprint="AA11"),
         ItemProps(KEY, "signing", "v2")],
        [rotated_t, ItemProps(SECRET, "disabled", "w1"),
         ItemProps(SECRET, "copy", "w1", link=copy_of("v1", "w1")), full_t,
         ItemProps(SECRET, "backing", "w1", managed=True), cert_t,
         ItemProps(KEY, "signing", "w1")], policies)
    assert {i.name for i in result.items if i.drift} == {"rotated", "disabled", "full", "tls"}
    checks = history_checks(result, target)
    # drift without room for a link could never have been copied with one; a disabled source
    # over drift cannot be copied either way; a copy is no drift; a backing secret in the way
    # is no drift; keys are never overwritten
    assert [(c.item.name, c.subject, c.origin, c.holder) for c in checks] == [
        ("rotated", rotated_t, "westus", "eastus"), ("tls", cert_t, "westus", "eastus")]
    assert history_checks(result) == ()


def test_resolving_the_sync_history_makes_a_superseded_conflict_a_plain_update():
    from kvdr.sync.report import SyncReport

    names = ("superseded", "diverged", "unread")
    relayed = ItemProps(SECRET, "relayed", "v5", link=LinkTag("centralus", "c1", 3, "v5"))
    result, _ = sync_plan([*(ItemProps(SECRET, n, "v2") for n in names), relayed],
                          [*(ItemProps(SECRET, n, "w1") for n in names),
                           ItemProps(SECRET, "relayed", "w1")])
    after = resolve_history(result, {"secret/superseded": HistoryMatch.REPLACED,
                                     "secret/diverged": HistoryMatch.NOT_COPIED,
                                     "secret/unread": HistoryMatch.UNREAD,
                                     "secret/relayed": HistoryMatch.REPLACED})
    by_name = {i.name: i for i in after.items}
    got = {n: (i.action, i.reason, i.drift, i.link, i.target_version) for n, i in by_name.items()}
    assert got == {
        "superseded": (PlanAction.UPDATE_VALUE, Reason.SUPERSEDED, False,
                       LinkTag("eastus", "v2", 4), "w1"),
        "diverged": (PlanAction.CONFLICT, Reason.DRIFT, True, None, "w1"),
        "unread": (PlanAction.CONFLICT, Reason.DRIFT, True, None, "w1"),
        # the source's latest is itself a copy: the link names its origin, as any copy's does
        "relayed": (PlanAction.UPDATE_VALUE, Reason.SUPERSEDED, False,
                    LinkTag("centralus", "c1", 4), "w1")}
    # the write is the one the planner makes over a kvdr copy of an older version
    over_a_copy, _ = sync_plan([ItemProps(SECRET, "superseded", "v2")],
                               [ItemProps(SECRET, "superseded", "w1", link=copy_of("v1", "w1"))])
    assert (only(over_a_copy).action, only(over_a_copy).link) == (
        PlanAction.UPDATE_VALUE, by_name["superseded"].link)
    # neither a conflict nor drift in the report, dry run or not
    for dry_run in (True, False):
        report = SyncReport.start(after, dry_run=dry_run, started_at=NOW)
        assert [n.name for n in report.conflicts] == ["diverged", "unread"]
    assert Reason.DRAIN_SUPERSEDED == Reason.SUPERSEDED


def test_resolving_the_sync_history_keeps_writing_a_superseded_overwrite_as_no_drift():
    names = ("superseded", "diverged", "unread")
    result, _ = sync_plan([ItemProps(SECRET, n, "v2") for n in names],
                          [ItemProps(SECRET, n, "w1") for n in names], PRIMARY_WINS)
    after = resolve_history(result, {"secret/superseded": HistoryMatch.REPLACED,
                                     "secret/diverged": HistoryMatch.NOT_COPIED,
                                     "secret/unread": HistoryMatch.UNREAD})
    got = {i.name: (i.action, i.reason, i.drift) for i in after.items}
    assert got == {
        "superseded": (PlanAction.UPDATE_VALUE, Reason.SUPERSEDED, False),
        "diverged": (PlanAction.UPDATE_VALUE, Reason.DRIFT_OVERWRITTEN, True),
        "unread": (PlanAction.UPDATE_VALUE, Reason.DRIFT_OVERWRITTEN, True)}
    assert [(i.key, i.link, i.target_version) for i in after.executable] == \
        [(i.key, i.link, i.target_version) for i in result.executable]
