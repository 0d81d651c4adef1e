"""Planning a pair (:meth:`activities.sync.SyncActivities.plan_pair`): both inventories, the
plan against the configuration and the first sightings of missing items, and what version
history settles of it. Verification and the drill's RPO plan the same way."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from activities.sync.store import missing_since_key
from kvdr.config.schema import Config
from kvdr.errors import VaultPermissionError
from kvdr.state.store import StateStore
from kvdr.sync.history import history_checks
from kvdr.sync.model import SyncMode, SyncPlan
from kvdr.sync.plan import plan_sync
from kvdr.sync.version_history import settle_history
from kvdr.vault.inventory import Inventory, parse_time
from kvdr.vault.permissions import check_write
from kvdr.vault.session import VaultSession


def inventories(source: VaultSession, target: VaultSession) -> tuple[Inventory, Inventory]:
    """Both inventories, concurrently (each is list calls only, per kind concurrently)."""
    with ThreadPoolExecutor(2, thread_name_prefix="inventory") as pool:
        src = pool.submit(source.inventory)
        tgt = pool.submit(target.inventory)
        return src.result(), tgt.result()


def _first_seen(state: StateStore, target: str) -> dict[str, datetime]:
    raw = state.get_json(missing_since_key(target)) or {}
    return {k: t for k, v in raw.items() if (t := parse_time(v)) is not None}


def make_plan(config: Config, state: StateStore, source_inv: Inventory, target_inv: Inventory,
              *, source: str, target: str, epoch: int, now: datetime,
              mode: SyncMode = SyncMode.SYNC) -> SyncPlan:
    """The pure planner's plan of ``source`` -> ``target`` under the configured policies, with
    the target's first sightings of missing items from the state store."""
    return plan_sync(source_inv, target_inv, source_region=source, target_region=target,
                     policies=config.policies,
                     same_subscription=config.same_subscription(source, target),
                     same_geography=config.same_geography(source, target),
                     now=now, first_seen_missing=_first_seen(state, target), epoch=epoch,
                     mode=mode)


def check_history(source: VaultSession, target: VaultSession, plan: SyncPlan, target_inv: Inventory
                  ) -> SyncPlan:
    """Right after planning, in every mode: settle what the current primary's version history
    can tell (:func:`kvdr.sync.history.history_checks`, read by
    :func:`kvdr.sync.version_history.settle_history`).
    Each check costs one version listing of the region holding the history (properties only,
    no value) and, when the copies found there name the origin's version id, one of the other
    region too (the real ids behind the subject's version token); all are counted in the
    sessions' calls. Only candidates are checked, so a run without drift or conflicts lists no
    versions.

    * Reconcile: a conflict whose target (the current primary) held a kvdr copy of the source's
      latest and moved on becomes a skip; one whose history cannot be read stays a conflict,
      saying so.
    * Sync and drain: drift (a sync conflict, a primary-wins or drain overwrite) whose source
      (the current primary) held a kvdr copy of the target's latest and moved on is a plain
      update of the value, no drift (not a conflict, not listed as overwritten); one whose
      history cannot be read stays drift, as planned.

    (:func:`kvdr.sync.history.resolve_history`.)"""
    return settle_history(source, target, plan, history_checks(plan, target_inv))


def write_refused(target: VaultSession, plan: SyncPlan) -> dict[str, Any] | None:
    """Before anything is stored or written: None when the plan writes nothing or kvdr may write
    every kind it writes to the target (:func:`kvdr.vault.permissions.check_write`, one PATCH
    answered 404 per kind); else the ``vault.permission_denied`` error naming the region and
    the role. Without it a target kvdr may not write fails every item of the run one by one
    (2,000 items, 2,000 refused writes) after the renewal step and the batches were set up."""
    kinds = {item.kind for item in plan.executable}
    if not kinds:
        return None
    try:
        check_write(target, sorted(kinds))
    except VaultPermissionError as exc:
        return exc.to_dict()
    return None
