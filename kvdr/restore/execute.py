"""Restoring one planned item (:func:`restore_item`): roll back, recover (and roll back),
restore from a secondary's copy, disable a new item. Check, then act, like the sync's copier:
the item is re-read first, and a restore that already landed (a crash after the write, a rerun)
writes nothing. Never purges, never deletes. Errors are per item: an outcome with ``ok`` False
and a stable code, never an exception. Values are read and written in here and never leave.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

from kvdr.errors import KvdrError
from kvdr.restore.content import ItemJob
from kvdr.restore.model import RestoreAction, RestoreItem
from kvdr.restore.outcome import RestoreCode, RestoreFailed, RestoreOutcome
from kvdr.restore.put_certificate import put_certificate
from kvdr.restore.put_secret import put_secret
from kvdr.restore.reads import VersionRecord, latest_record, version_at
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession

__all__ = ["RestoreOutcome", "restore_item"]

log = logging.getLogger(__name__)

A = RestoreAction
_NOTHING = {A.UNCHANGED: "nothing to do", A.CANNOT: "not restored", A.REPORT_NEW: "reported"}


def restore_item(primary: VaultSession, others: Mapping[str, VaultSession], item: RestoreItem,
                 *, run_id: str, disable_new: bool = False,
                 fingerprint_key: bytes | None = None) -> RestoreOutcome:
    """Carry out ``item`` on ``primary`` (``others``: the secondaries by region, for a restore
    from a copy). ``disable_new``: a ``report_new`` item is disabled too. ``fingerprint_key``:
    the deployment's key for keyed fingerprints (a random one for this call otherwise: the
    fingerprints never leave it)."""
    key = fingerprint_key or secrets.token_hex(32).encode("ascii")
    try:
        outcome = _restore(primary, others, item, disable_new, key)
    except KvdrError as exc:
        log.warning("restore %s: %s %s failed: [%s]", run_id, item.kind, item.name, exc.code)
        return RestoreOutcome(item.kind, item.name, item.action, ok=False, source=item.version,
                              code=exc.code, message=exc.message,
                              wrote=getattr(exc, "wrote", False))
    except Exception as exc:  # one item's bug must not stop the batch
        log.warning("restore %s: %s %s failed unexpectedly: %s", run_id, item.kind, item.name,
                    type(exc).__name__)
        return RestoreOutcome(item.kind, item.name, item.action, ok=False, source=item.version,
                              code=RestoreCode.INTERNAL,
                              message=f"unexpected {type(exc).__name__}; see the log")
    log.info("restore %s: %s %s: %s (%s)", run_id, item.kind, item.name, outcome.action,
             outcome.done)
    return outcome


def _restore(primary: VaultSession, others: Mapping[str, VaultSession], item: RestoreItem,
             disable_new: bool, key: bytes) -> RestoreOutcome:
    action = item.action
    if action == A.REPORT_NEW and disable_new and item.kind != ItemKind.KEY:
        action = A.DISABLE_NEW
    if item.kind == ItemKind.KEY and action not in _NOTHING:
        action = A.CANNOT  # keys are never written, whatever the item says
    if action in _NOTHING:
        return RestoreOutcome(item.kind, item.name, action, done=_NOTHING[action],
                              source=item.version)
    job = ItemJob(primary=primary, source=primary, kind=item.kind, name=item.name, key=key)
    if action == A.DISABLE_NEW:
        return _disable(job, item)
    if action == A.ROLL_BACK:
        wrote, done = _put(job, job.source_version(item.version))
        return _done(item, A.ROLL_BACK if wrote else A.UNCHANGED, wrote, done, item.version)
    if action == A.RECOVER:
        wrote, done = _recover(job)
        return _done(item, A.RECOVER if wrote else A.UNCHANGED, wrote, done, None)
    if action == A.RECOVER_AND_ROLL_BACK:
        return _recover_and_roll_back(job, item)
    if action == A.FROM_SECONDARY:
        return _from_secondary(job, others, item)
    raise RestoreFailed(f"unknown restore action {action}")


def _done(item: RestoreItem, action: RestoreAction, wrote: bool, done: str,
          source: str | None) -> RestoreOutcome:
    return RestoreOutcome(item.kind, item.name, action, ok=True, done=done, source=source,
                          wrote=wrote)


def _put(job: ItemJob, source: VersionRecord) -> tuple[bool, str]:
    if job.kind == ItemKind.CERTIFICATE:
        return put_certificate(job, source)
    return put_secret(job, source)


def _recover(job: ItemJob) -> tuple[bool, str]:
    """Recover the soft-deleted item; (False, …) when it is live already (a rerun)."""
    p = job.primary
    if not p.is_deleted(job.kind, job.name):
        if job.primary_history():
            return False, "recovered already"
        raise RestoreFailed(f"{job.kind} '{job.name}' is neither live nor soft-deleted any more "
                            "(purged since the plan?); run the restore again to re-plan it",
                            code=RestoreCode.CHANGED)
    begin = (p.secrets.begin_recover_deleted_secret if job.kind == ItemKind.SECRET
             else p.certificates.begin_recover_deleted_certificate)
    with p.mapped(f"recover deleted {job.kind} '{job.name}'"):
        begin(job.name).wait()
    return True, "recovered"


def _recover_and_roll_back(job: ItemJob, item: RestoreItem) -> RestoreOutcome:
    recovered, done = _recover(job)
    history = job.primary_history()
    then = version_at(history, item.until) if item.until is not None else None
    if then is None:
        return _done(item, A.RECOVER if recovered else A.UNCHANGED, recovered,
                     f"{done}; it had no version at TIME (created after it): nothing rolled "
                     "back", None)
    latest = latest_record(history)
    if not then.props.enabled and latest is not None and latest.id != then.id:
        raise _WroteFailed(
            f"{done}; version {then.id}, current at TIME, is disabled: its value cannot be "
            "read; enable that version and run the restore again",
            code=RestoreCode.SOURCE_UNREADABLE, wrote=recovered)
    try:
        wrote, rolled = _put(job, then)
    except KvdrError as exc:
        raise _WroteFailed(f"{done}; {exc.message}", code=exc.code, wrote=recovered) from None
    action = A.RECOVER_AND_ROLL_BACK if wrote else (A.RECOVER if recovered else A.UNCHANGED)
    return _done(item, action, recovered or wrote, f"{done}; {rolled}", then.id)


class _WroteFailed(RestoreFailed):
    """A failure after a write landed (a recovery, then a roll back that failed)."""

    def __init__(self, message: str, *, code: str, wrote: bool) -> None:
        super().__init__(message, code=code)
        self.wrote = wrote


def _from_secondary(job: ItemJob, others: Mapping[str, VaultSession], item: RestoreItem
                    ) -> RestoreOutcome:
    region = item.source_region
    session = others.get(region or "")
    if session is None:
        raise RestoreFailed(f"the plan restores {item.kind} '{item.name}' from region "
                            f"{region}, which this run cannot reach or does not know",
                            code=RestoreCode.SOURCE_UNREADABLE)
    job = ItemJob(primary=job.primary, source=session, kind=job.kind, name=job.name,
                  key=job.key, region=region)
    wrote, done = _put(job, job.source_version(item.version))
    return _done(item, A.FROM_SECONDARY if wrote else A.UNCHANGED, wrote,
                 f"{done} (from {region})", f"{region}/{item.version}")


def _disable(job: ItemJob, item: RestoreItem) -> RestoreOutcome:
    latest = job.primary_latest()
    if latest is None or latest.id is None:
        return _done(item, A.REPORT_NEW, False, "no longer exists: nothing disabled", None)
    if not latest.props.enabled:
        return _done(item, A.DISABLE_NEW, False, "disabled already", latest.id)
    p = job.primary
    if job.kind == ItemKind.SECRET:
        p.call(f"disable secret '{job.name}'", p.secrets.update_secret_properties, job.name,
               latest.id, enabled=False)
    else:
        p.call(f"disable certificate '{job.name}'",
               p.certificates.update_certificate_properties, job.name, latest.id,
               enabled=False)
    return _done(item, A.DISABLE_NEW, True, f"disabled version {latest.id} (never deleted)",
                 latest.id)
