"""The sync report's ``renewal`` section: per secondary region, what the pair's renewal step did
(decision 9; :mod:`kvdr.sync.renewal_step`). Plain JSON, pure, so the orchestrator can merge the
chunks of one step and the report the sections of many pairs::

    {<secondary region>: {"primary": RenewalChanges.to_dict(),
                          "secondary": RenewalChanges.to_dict(),
                          "contacts": "unchanged" | "copied" | "cleared" | "failed: <code>",
                          "issuers": [IssuerDifference.to_dict(), ...],
                          "diverged_keys": [KeyDivergence.to_dict(), ...]}}

plus ``"error": {"code", "message"}`` when the step as a whole could not run (fenced, a vault
that did not answer) and ``"diverged_keys_omitted"`` when that list was capped. Renewal failures
are no item failures (a failover's reconcile or drain must not be blocked by a policy write),
but a run with any is ``partial`` (:func:`has_failures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Section = Mapping[str, Any]

MAX_CHANGES_LISTED = 50  # names per list of a RenewalChanges (kvdr.renewal.ownership's cap)
MAX_KEYS_LISTED = 100    # diverged keys listed per region: the section stays far below 45 KB
_COUNTS = ("armed", "disarmed", "policies_updated", "ledger_written", "omitted")


def changes(region: str) -> dict[str, Any]:
    """An empty ``RenewalChanges.to_dict()``."""
    return {"region": region, "armed": 0, "disarmed": 0, "policies_updated": 0,
            "ledger_written": 0, "left_alone": [], "failures": [], "omitted": 0}


def empty_section(primary: str, secondary: str) -> dict[str, Any]:
    return {"primary": changes(primary), "secondary": changes(secondary),
            "contacts": "unchanged", "issuers": [], "diverged_keys": []}


def failed_section(primary: str, secondary: str, error: Mapping[str, Any]) -> dict[str, Any]:
    """The section of a step that could not run at all (``error``: a KvdrError's dict)."""
    return {**empty_section(primary, secondary),
            "error": {"code": str(error["code"]),
                      "message": str(error.get("message", ""))[:300]}}


def _merge_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = {**dict(a), **{k: int(a.get(k, 0)) + int(b.get(k, 0)) for k in _COUNTS}}
    for name in ("left_alone", "failures"):
        listed = [*a.get(name, ()), *b.get(name, ())]
        out[name] = listed[:MAX_CHANGES_LISTED]
        out["omitted"] += max(0, len(listed) - MAX_CHANGES_LISTED)
    return out


def merge_sections(a: Section, b: Section) -> dict[str, Any]:
    """Two parts of one region's section (the chunks of one step, or two steps of a region)."""
    keys = [*a.get("diverged_keys", ()), *b.get("diverged_keys", ())]
    out: dict[str, Any] = {
        "primary": _merge_changes(a["primary"], b["primary"]),
        "secondary": _merge_changes(a["secondary"], b["secondary"]),
        "contacts": (a.get("contacts", "unchanged") if a.get("contacts", "unchanged")
                     != "unchanged" else b.get("contacts", "unchanged")),
        "issuers": list(a.get("issuers", ())) or list(b.get("issuers", ())),
        "diverged_keys": keys[:MAX_KEYS_LISTED]}
    omitted = (int(a.get("diverged_keys_omitted", 0)) + int(b.get("diverged_keys_omitted", 0))
               + max(0, len(keys) - MAX_KEYS_LISTED))
    if omitted:
        out["diverged_keys_omitted"] = omitted
    error = a.get("error") or b.get("error")
    if error:
        out["error"] = dict(error)
    return out


def merge_renewal(a: Mapping[str, Section], b: Mapping[str, Section]) -> dict[str, Any]:
    """The sections of two reports, by secondary region."""
    out = {region: dict(section) for region, section in a.items()}
    for region, section in b.items():
        out[region] = merge_sections(out[region], section) if region in out else dict(section)
    return out


def has_failures(section: Section) -> bool:
    """Whether any part of the step failed (it makes the run ``partial``)."""
    return bool(section.get("error") or section["primary"].get("failures")
                or section["secondary"].get("failures")
                or str(section.get("contacts", "")).startswith("failed"))


def describe(region: str, section: Section) -> str:
    """One line for the CLI's report."""
    if section.get("error"):
        return f"renewal {region}: not aligned [{section['error'].get('code')}]"
    p, s = section["primary"], section["secondary"]
    failures = len(p.get("failures", ())) + len(s.get("failures", ()))
    keys = len(section.get("diverged_keys", ())) + int(section.get("diverged_keys_omitted", 0))
    return (f"renewal {region}: {s['disarmed']} copies disarmed, {s['policies_updated']} "
            f"policies updated, {p['armed']} armed in {p['region']}; contacts "
            f"{section.get('contacts')}; {len(section.get('issuers', ()))} issuer "
            f"difference(s); {keys} diverged key(s); {failures} failure(s)")
