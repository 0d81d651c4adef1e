"""What ``kvdr status`` shows of renewal (decision 9), from the last full-sync record alone.

The sync's report carries, per secondary region, what its renewal step did
(:class:`kvdr.renewal.align.Alignment` plus the comparisons of :mod:`kvdr.renewal.compare`)::

    {"primary": {region, armed, disarmed, policies_updated, ledger_written, left_alone,
                 failures: [{kind, name, code, message}], omitted},
     "secondary": {...the same...},
     "contacts": "unchanged|copied|cleared|failed: <code>",
     "issuers": [{name, problem, primary_provider, secondary_provider}],
     "diverged_keys": [{name, versions_behind, seconds_behind, primary_latest, copy_latest}]}

plus ``error`` when the step could not run at all and ``diverged_keys_omitted`` when that list
was capped (:mod:`kvdr.sync.renewal_section`). Status shows issuers missing or different, keys
whose versions diverged (and by how much) and the items the step could not disarm or arm; only
those failures and a step that did not run are problems (a copy may renew on its own, or the
primary not at all, until a sync succeeds). A record without the
field (written before renewal existed) or with a malformed one shows nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["renewal_failures", "renewal_lines", "renewal_of", "renewal_problems"]

MAX_NAMED = 10


def renewal_of(report: Mapping[str, Any] | None, target: str) -> dict[str, Any] | None:
    """The last sync's renewal section for ``target``; None when it has none."""
    sections = (report or {}).get("renewal")
    section = sections.get(target) if isinstance(sections, Mapping) else None
    return dict(section) if isinstance(section, Mapping) else None


def _listed(items: Any) -> list[Mapping[str, Any]]:
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def renewal_failures(section: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The items either side of the step failed on (with their region), and how many more
    the record left out."""
    found: list[dict[str, Any]] = []
    omitted = 0
    for side in ("primary", "secondary"):
        changes = section.get(side)
        if not isinstance(changes, Mapping):
            continue
        found += [{**f, "region": changes.get("region", side)}
                  for f in _listed(changes.get("failures"))]
        omitted += int(changes.get("omitted") or 0)
    return found, omitted


def _more(total: int, shown: int) -> str:
    return f" and {total - shown} more" if total > shown else ""


def _named_failures(found: Sequence[Mapping[str, Any]], omitted: int) -> str:
    named = ", ".join(f"{f.get('kind')} '{f.get('name')}' in {f.get('region')} "
                      f"[{f.get('code')}]" for f in found[:MAX_NAMED])
    return named + _more(len(found) + omitted, min(len(found), MAX_NAMED))


def _error(section: Mapping[str, Any]) -> str | None:
    error = section.get("error")
    if not isinstance(error, Mapping):
        return None
    return f"[{error.get('code')}] {error.get('message') or ''}".strip()


def renewal_problems(section: Mapping[str, Any] | None) -> list[str]:
    if not section:
        return []
    consequence = "until a sync succeeds a copy may renew on its own, or the primary not at all"
    problems = []
    error = _error(section)
    if error:
        problems.append(f"the last sync's renewal step did not run ({error}): {consequence}")
    found, omitted = renewal_failures(section)
    if found or omitted:
        problems.append(f"the last sync's renewal step failed for {len(found) + omitted} "
                        f"item(s) ({_named_failures(found, omitted)}): {consequence}")
    return problems


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "an unknown time"
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    return f"{seconds:.0f} s"


def _issuer(entry: Mapping[str, Any]) -> str:
    problem = entry.get("problem")
    if problem == "missing":
        return f"{entry.get('name')} missing (primary: {entry.get('primary_provider') or '-'})"
    if problem == "extra":
        return f"{entry.get('name')} only in the secondary"
    return (f"{entry.get('name')} provider {entry.get('secondary_provider') or '-'}, primary's "
            f"{entry.get('primary_provider') or '-'}")


def _lines(section: Mapping[str, Any]) -> Iterator[str]:
    error = _error(section)
    if error:
        yield f"not aligned by the last sync {error}"
    issuers = _listed(section.get("issuers"))
    if issuers:
        yield (f"issuers differ ({len(issuers)}): "
               + "; ".join(_issuer(i) for i in issuers[:MAX_NAMED])
               + _more(len(issuers), MAX_NAMED))
    keys = _listed(section.get("diverged_keys"))
    total = len(keys) + int(section.get("diverged_keys_omitted") or 0)
    if keys:
        yield (f"keys diverged ({total}): "
               + "; ".join(f"{k.get('name')} {k.get('versions_behind')} version(s), "
                           f"{_duration(k.get('seconds_behind'))} behind"
                           for k in keys[:MAX_NAMED])
               + _more(total, min(len(keys), MAX_NAMED)))
    found, omitted = renewal_failures(section)
    if found or omitted:
        yield f"renewal failures: {_named_failures(found, omitted)}"
    contacts = section.get("contacts")
    if isinstance(contacts, str) and contacts.startswith("failed"):
        yield f"certificate contacts not replicated ({contacts})"


def renewal_lines(section: Mapping[str, Any] | None) -> list[str]:
    """The text lines of one pair's renewal section (none without a section)."""
    if not section:
        return []
    lines = list(_lines(section))
    if not lines:
        return [f"renewal: in order (contacts {section.get('contacts') or 'unchanged'})"]
    return [f"renewal: {line}" for line in lines]
