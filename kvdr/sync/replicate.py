"""The copier: executes plan items against two vaults, values read and written inside.

Mutation discipline (decision 5): for every item, check the target first, write once, confirm,
verify. Writes that create a version (set secret, import certificate, restore key) are sent
without the SDK's automatic retry, because azure-core re-sends some of them after an ambiguous
failure; kvdr retries them itself, re-reading the target after each failure to learn whether
the write landed. Running a batch twice therefore writes nothing new. The items of a batch are
copied concurrently (:data:`ITEM_PARALLEL` at a time; items of one name in order), so a retry's
backoff waits for its own item only.

The copiers per kind live in ``kvdr.sync.copy_*`` (shared parts in :mod:`kvdr.sync.copier`).
Values never leave them: outcomes carry names, actions and error codes; messages are
built from kvdr's own texts, never from an exception's or the service's text.

Versions are compared as version tokens (see :func:`kvdr.vault.session.version_token`): the list
APIs do not return version ids.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

from kvdr.config.schema import Config, Policies
from kvdr.errors import KvdrError, VaultError
from kvdr.sync.copier import CopyContext, ItemSkipped, OutcomeCode
from kvdr.sync.copy_certificates import copy_certificate
from kvdr.sync.copy_deletes import delete_target
from kvdr.sync.copy_keys import copy_key
from kvdr.sync.copy_secrets import copy_secret
from kvdr.sync.history import history_checks
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem, SyncMode, SyncPlan
from kvdr.sync.plan import plan_sync
from kvdr.sync.report import BatchResult, ItemOutcome
from kvdr.sync.version_history import settle_history
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import FENCED_CODE
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, item_key
from kvdr.vault.links import LinkTag
from kvdr.vault.session import VaultSession

__all__ = ["ITEM_PARALLEL", "OutcomeCode", "execute_items", "sync_item"]

log = logging.getLogger(__name__)

# Items of one batch copied at a time. The pacers bound the rates, not this: it only has to be
# wide enough that items waiting out a retry's backoff leave others to fill the budget (at the
# default 4 batches in flight, 32 items per vault and process).
ITEM_PARALLEL = 8


# --- the batch ----------------------------------------------------------------------------------


def execute_items(source: VaultSession, target: VaultSession, items: Sequence[PlanItem], *,
                  policies: Policies, fingerprint_key: bytes, mode: SyncMode = SyncMode.SYNC,
                  epoch: int = 0, parallel: int | None = None) -> BatchResult:
    """Execute every executable plan item (others are returned as they were planned), up to
    ``parallel`` items at a time (default :data:`ITEM_PARALLEL`); the outcomes keep the items'
    order. Values are read and written inside; an exception for one item never aborts the
    batch. ``mode`` says who renews: the target only in a reconcile (it is the primary);
    ``epoch`` is the one the items were planned at (renewal ledger entries carry it)."""
    before = {source.region: source.calls, target.region: target.calls}
    ctx = CopyContext(source, target, policies, fingerprint_key,
                      target_is_primary=SyncMode(mode) == SyncMode.RECONCILE, epoch=epoch)
    outcomes = _execute_all(ctx, items, ITEM_PARALLEL if parallel is None else parallel)
    calls = {source.region: source.calls - before[source.region]}
    calls[target.region] = target.calls - before[target.region]
    return BatchResult(outcomes=tuple(outcomes), calls=calls)


def _execute_all(ctx: CopyContext, items: Sequence[PlanItem], parallel: int
                 ) -> list[ItemOutcome]:
    """Every item's outcome, in the items' order. Items are copied concurrently so that one
    item's retry backoff stalls only that item, not its batch; the vaults' pacers (shared by
    the threads) keep the rates: a 429 makes its own request wait its Retry-After and slows the
    vault down, and only a cluster of 429s pauses the whole vault (kvdr.vault.pacing). Items
    that share a name (any kind: a certificate's name is also its secret's and key's, and a
    name's renewal ledger entry is one reserved secret) run one after another in one thread."""
    outcomes: list[ItemOutcome | None] = [None] * len(items)
    chains: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        if item.action in EXECUTABLE:
            chains.setdefault(item.name.lower(), []).append(n)
        else:  # nothing to do: no thread for it
            outcomes[n] = _execute_one(ctx, item)

    def run(chain: list[int]) -> None:
        for n in chain:
            outcomes[n] = _execute_one(ctx, items[n])

    width = max(1, min(parallel, len(chains)))
    if width == 1:  # the event path's single item, or parallel=1: no thread
        for chain in chains.values():
            run(chain)
    else:
        with ThreadPoolExecutor(max_workers=width,
                                thread_name_prefix=f"kvdr-copy-{ctx.target.region}") as pool:
            # each item in a copy of the caller's context (its OpenTelemetry span, for one)
            futures = [pool.submit(contextvars.copy_context().run, run, chain)
                       for chain in chains.values()]
            for future in futures:
                future.result()  # run() never raises: _execute_one catches per item
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(items), "an item without an outcome"
    return done


def _execute_one(ctx: CopyContext, item: PlanItem) -> ItemOutcome:
    def outcome(action: PlanAction, *, ok: bool = True, code: str | None = None,
                message: str | None = None) -> ItemOutcome:
        return ItemOutcome(item.kind, item.name, action, ok, code, message)

    if item.action not in EXECUTABLE:
        return outcome(item.action, message=item.reason)
    try:
        if item.action == PlanAction.DELETE_CANDIDATE:
            return outcome(delete_target(ctx, item))
        handler = {ItemKind.SECRET: copy_secret, ItemKind.CERTIFICATE: copy_certificate,
                   ItemKind.KEY: copy_key}[item.kind]
        return outcome(handler(ctx, item))
    except ItemSkipped as skip:
        return outcome(PlanAction.SKIP, message=skip.reason)
    except KvdrError as exc:  # VaultError and our own failures: code + kvdr's sentence
        log.warning("%s %s to %s: %s failed [%s]", item.kind, item.name, ctx.target.region,
                    item.action, exc.code)
        return outcome(item.action, ok=False, code=exc.code, message=exc.message)
    except Exception as exc:  # never abort the batch; never echo an unknown message
        log.exception("%s %s to %s: unexpected %s", item.kind, item.name, ctx.target.region,
                      type(exc).__name__)
        return outcome(item.action, ok=False, code=OutcomeCode.INTERNAL,
                       message=f"unexpected {type(exc).__name__} while executing "
                               f"{item.action}; see the activity log")


# --- the event path -----------------------------------------------------------------------------


def _recheck_same_second(item: PlanItem, target: ItemProps | None, version: str | None
                         ) -> PlanItem:
    """An event names the real version id; the plan compared version tokens (creation
    seconds). When the target is a kvdr copy of another origin id, a second version created in
    the same second may be missing: let the copier check (it writes only if the origin read now
    differs from the target's)."""
    if (version is None or target is None or item.kind != ItemKind.SECRET
            or item.action not in (PlanAction.UNCHANGED, PlanAction.UPDATE_ATTRIBUTES)
            or item.source is None or not item.source.version):
        return item
    link = target.link
    if link is None or link.origin_id is None or link.origin_id.lower() == version.lower():
        return item
    planned = LinkTag(link.origin_region, item.source.version, link.epoch) \
        if item.source.link is None else item.source.link
    return replace(item, action=PlanAction.UPDATE_VALUE, link=LinkTag(
        planned.origin_region, planned.origin_version, link.epoch))


def _settle_refused_drift(source: VaultSession, target: VaultSession, plan: SyncPlan,
                          target_inv: Inventory) -> SyncPlan:
    """A drift conflict the event is about to refuse: as full sync does, ask the primary's
    version history whether the target's latest had reached it (then it is no drift, and is
    copied as a plain update; :func:`kvdr.sync.history.resolve_history`). One version listing of the
    primary, plus one of the target when the copy found names an origin id — only for such a
    conflict; an item in sync, a copy to refresh or a primary-wins overwrite (written either
    way) costs none. A listing that fails leaves the conflict as it was."""
    checks = [c for c in history_checks(plan, target_inv)
              if c.item.action == PlanAction.CONFLICT]
    return settle_history(source, target, plan, checks)


Fence = Callable[[VaultSession], str | None]


def sync_item(config: Config, sessions: Mapping[str, VaultSession], topology: TopologyRecord,
              kind: ItemKind, name: str, *, fingerprint_key: bytes,
              version: str | None = None, fence: Fence | None = None
              ) -> dict[str, ItemOutcome]:
    """Replicate one item's latest state from the primary to every other region: read its
    properties everywhere, plan on one-item inventories, execute. ``{target region: outcome}``;
    an unreachable vault fails its own outcome(s), never the others. ``version`` is the real
    version id an event named (it tells apart versions created in the same second). A drift
    conflict is checked against the primary's version history first
    (:func:`_settle_refused_drift`): a target version that had reached the primary, which
    replaced it since, is no drift and is copied over.

    ``fence`` is asked once per target, only when something is about to be written there; a
    sentence back means "do not write" and the outcome is a ``skip`` with code
    ``topology.fenced`` (a failover happened since ``topology`` was read)."""
    kind = ItemKind(kind)
    primary = topology.primary
    source = sessions[primary]
    targets = [r for r in sessions if r != primary]
    try:
        s_props = source.item(kind, name)
    except VaultError as exc:
        return {r: ItemOutcome(kind, name, PlanAction.SKIP, False, exc.code, exc.message)
                for r in targets}
    now = datetime.now(UTC)
    outcomes: dict[str, ItemOutcome] = {}
    for region in targets:
        target = sessions[region]
        try:
            t_props = target.item(kind, name)
            deleted = (frozenset({item_key(kind, name)})
                       if t_props is None and target.is_deleted(kind, name) else frozenset())
        except VaultError as exc:
            outcomes[region] = ItemOutcome(kind, name, PlanAction.SKIP, False, exc.code,
                                           exc.message)
            continue
        target_inv = Inventory.of(region, [t_props] if t_props else [], deleted=deleted)
        plan = plan_sync(Inventory.of(primary, [s_props] if s_props else []), target_inv,
                         source_region=primary, target_region=region, policies=config.policies,
                         same_subscription=config.same_subscription(primary, region),
                         same_geography=config.same_geography(primary, region), now=now,
                         epoch=topology.epoch)
        plan = _settle_refused_drift(source, target, plan, target_inv)
        if not plan.items:
            outcomes[region] = ItemOutcome(kind, name, PlanAction.UNCHANGED,
                                           message="absent from both vaults")
            continue
        items = [_recheck_same_second(i, t_props, version) for i in plan.items]
        try:
            refused = _fence_refuses(fence, target, items)
        except KvdrError as exc:  # the record could not be read: never write blind
            outcomes[region] = ItemOutcome(kind, name, PlanAction.SKIP, False, exc.code,
                                           exc.message)
            continue
        if refused is not None:
            outcomes[region] = ItemOutcome(kind, name, PlanAction.SKIP, True, FENCED_CODE,
                                           refused)
            continue
        # every target is a copy: what lands there is disarmed (decision 9)
        result = execute_items(source, target, items, policies=config.policies,
                               fingerprint_key=fingerprint_key, mode=SyncMode.SYNC,
                               epoch=topology.epoch)
        outcomes[region] = result.outcomes[0]
    return outcomes


def _fence_refuses(fence: Fence | None, target: VaultSession, items: Sequence[PlanItem]
                   ) -> str | None:
    """Ask the fence only before a write: an event that finds the target in sync costs no
    topology read."""
    if fence is None or not any(i.action in EXECUTABLE for i in items):
        return None
    return fence(target)
