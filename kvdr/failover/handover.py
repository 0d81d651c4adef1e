"""What a failover's report says of the renewal hand-over (decision 9): a one-line summary, and
messages for the vaults it could not reach, the items it could not arm or disarm, or a hand-over
that did not run. A hand-over problem never undoes the switch: the runbook still completes,
with these messages, and the next sync finishes the job (it completes the primary's unfinished
arming and disarms every copy it reaches: :func:`kvdr.renewal.align.align_renewal`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["HANDOVER_FAILED_CODE", "UNREACHED_NOTE", "handover_messages", "handover_summary"]

HANDOVER_FAILED_CODE = "failover.handover_failed"
UNREACHED_NOTE = ("disarmed by the next sync that reaches them (at the latest at failback's "
                  "reconcile)")
MAX_NAMED = 10  # items named per vault in a message; the report's renewal section lists more


def _changes(renewal: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [renewal.get("primary") or {}, *(renewal.get("others") or ())]


def handover_summary(renewal: Mapping[str, Any] | None) -> str:
    """``west armed 3; east disarmed 3`` (plus what was not reached or failed)."""
    if not renewal:
        return "not run"
    if renewal.get("primary") is None:  # the hand-over did not run
        error = renewal.get("error") or {}
        return f"did not run [{error.get('code', HANDOVER_FAILED_CODE)}]"
    primary, *others = _changes(renewal)
    parts = [f"{primary.get('region', '?')} armed {primary.get('armed', 0)}"]
    parts += [f"{o.get('region', '?')} disarmed {o.get('disarmed', 0)}" for o in others]
    failed = sum(len(c.get("failures") or ()) + int(c.get("omitted") or 0)
                 for c in _changes(renewal))
    if failed:
        parts.append(f"{failed} item(s) failed")
    if renewal.get("unreached"):
        parts.append("not reached: " + ", ".join(sorted(renewal["unreached"])))
    return "; ".join(parts)


def _named(failures: Sequence[Mapping[str, Any]], omitted: int) -> str:
    named = ", ".join(f"{f.get('kind')} '{f.get('name')}' [{f.get('code')}]"
                      for f in failures[:MAX_NAMED])
    more = max(0, len(failures) - MAX_NAMED) + omitted
    return named + (f" and {more} more" if more else "")


def handover_messages(target: str, renewal: Mapping[str, Any] | None,
                      error: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The report's messages about the hand-over to ``target`` (none when all went well)."""
    if renewal is None:
        error = error or {}
        return (f"the renewal hand-over did not run [{error.get('code', HANDOVER_FAILED_CODE)}]"
                f": {error.get('message', 'unknown error')}; the switch stands, and the next "
                f"sync arms {target}'s renewals from its ledger and disarms the copies in the "
                "other vaults",)
    messages = []
    unreached = renewal.get("unreached") or {}
    if unreached:
        listed = ", ".join(f"{region} [{code}]" for region, code in unreached.items())
        messages.append(f"renewal hand-over: {listed} not reached; vaults not reached are "
                        f"{UNREACHED_NOTE}")
    for changes in _changes(renewal):
        region = changes.get("region", "?")
        verb = "armed" if region == target else "disarmed"
        failures = list(changes.get("failures") or ())
        omitted = int(changes.get("omitted") or 0)
        if failures or omitted:
            messages.append(f"renewal hand-over: not {verb} in {region}: "
                            f"{_named(failures, omitted)}; the next sync retries them")
        messages += [f"renewal hand-over in {region}: {note}"
                     for note in list(changes.get("left_alone") or ())[:MAX_NAMED]]
    return tuple(messages)
