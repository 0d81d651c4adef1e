"""The drill's renewal verdicts (decision 9), pure: the activity reads the vaults and hands in
what it found (:mod:`kvdr.renewal.compare`).

* ``renewal_ownership`` — for every certificate and key in every reachable vault, exactly one
  vault, the primary, holds an armed renewal or rotation: anything else **fails** the drill,
  naming the items and the vaults that renew them;
* ``issuers:<secondary>`` — issuers the primary defines that the secondary lacks or defines
  with another provider (renewal through an integrated CA would fail there after a failover);
* ``key_versions:<secondary>`` — keys whose copy holds an older version than the primary's
  latest (key material cannot follow a rotation: provision or rotate it there yourself).

The last two are warnings: reported, never a reason to fail the drill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kvdr.drill.checks import CheckName, DrillCheck, failed, passed, warning
from kvdr.renewal.compare import IssuerDifference, KeyDivergence, OwnershipProblem

MAX_ITEMS = 50   # items listed in a check (the counts hold the rest)
MAX_NAMED = 10   # items named in its message


def _more(total: int, shown: int) -> str:
    return f" and {total - shown} more" if total > shown else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "for an unknown time"
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    return f"{seconds:.0f} s"


def ownership_check(primary: str, problems: Sequence[OwnershipProblem],
                    checked: Mapping[str, int], *, unreadable: Sequence[Mapping[str, str]] = (),
                    unreadable_omitted: int = 0, unreachable: Sequence[str] = ()
                    ) -> DrillCheck:
    """``checked``: per vault read, the certificates and keys whose policy it holds;
    ``unreadable``: ``{region, kind, name, code, message}`` of what could not be read (an item
    whose policy cannot be read cannot be proven owned: the check fails), capped, with
    ``unreadable_omitted`` more."""
    vaults = ", ".join(f"{r} ({n})" for r, n in checked.items()) or "none"
    note = (f"; not checked (unreachable): {', '.join(unreachable)}" if unreachable else "")
    not_read = len(unreadable) + unreadable_omitted
    counts = {"items": max(checked.values(), default=0), "problems": len(problems),
              "unreadable": not_read}
    if not problems and not not_read:
        return passed(CheckName.RENEWAL_OWNERSHIP, f"only the primary {primary} renews or "
                      f"rotates; certificates and keys checked per vault: {vaults}{note}",
                      counts=counts)
    items: list[dict[str, Any]] = [p.to_dict() for p in problems[:MAX_ITEMS]]
    items += [{**u, "problem": "unreadable"} for u in unreadable[:MAX_ITEMS - len(items)]]
    parts = []
    if problems:
        named = "; ".join(p.describe() for p in problems[:MAX_NAMED])
        parts.append(f"{len(problems)} item(s) not owned by the primary {primary} alone: "
                     f"{named}{_more(len(problems), MAX_NAMED)}")
    if not_read:
        named = ", ".join(f"{u.get('kind')} '{u.get('name')}' in {u.get('region')} "
                          f"[{u.get('code')}]" for u in unreadable[:MAX_NAMED])
        parts.append(f"{not_read} read(s) failed, so ownership is unproven: "
                     f"{named}{_more(not_read, min(MAX_NAMED, len(unreadable)))}")
    advice = ("; a full sync disarms the copies and completes the primary's arming "
              "(or fail over to hand renewal over again)")
    code = unreadable[0].get("code") if unreadable and not problems else None
    return failed(CheckName.RENEWAL_OWNERSHIP, "; ".join(parts) + advice + note,
                  counts=counts, items=tuple(items), code=code)


def issuers_check(region: str, primary: str, differences: Sequence[IssuerDifference]
                  ) -> DrillCheck:
    if not differences:
        return passed(CheckName.ISSUERS, f"{region} defines the certificate issuers {primary} "
                      "defines, with the same providers", region)
    named = ", ".join(f"{d.name} ({d.problem}: {primary} {d.primary_provider or '-'}, "
                      f"{region} {d.secondary_provider or '-'})"
                      for d in differences[:MAX_NAMED])
    return warning(CheckName.ISSUERS, f"{len(differences)} certificate issuer(s) differ: "
                   f"{named}{_more(len(differences), MAX_NAMED)}; a certificate renewed through "
                   f"a missing or different issuer fails in {region} after a failover: define "
                   "the issuer there (kvdr never reads or copies issuer credentials)", region,
                   counts={"issuers": len(differences)},
                   items=tuple(d.to_dict() for d in differences[:MAX_ITEMS]))


def key_versions_check(region: str, primary: str, diverged: Sequence[KeyDivergence],
                       *, compared: int) -> DrillCheck:
    if not diverged:
        return passed(CheckName.KEY_VERSIONS, f"{compared} key(s) in {region} hold the "
                      f"primary's latest version", region, counts={"compared": compared})
    named = ", ".join(f"{d.name} ({d.versions_behind} version(s), "
                      f"{_duration(d.seconds_behind)} behind)" for d in diverged[:MAX_NAMED])
    return warning(CheckName.KEY_VERSIONS, f"{len(diverged)} of {compared} key(s) in {region} "
                   f"hold an older version than {primary}'s latest: {named}"
                   f"{_more(len(diverged), MAX_NAMED)}; key material cannot follow a rotation "
                   "(it moves only by backup/restore into a vault that lacks the name): rotate "
                   "or provision it in that region yourself", region,
                   counts={"compared": compared, "diverged": len(diverged)},
                   items=tuple(d.to_dict() for d in diverged[:MAX_ITEMS]))


def compare_failed(name: CheckName, region: str, error: Mapping[str, Any]) -> DrillCheck:
    """A comparison that could not be made: a warning as well (it decides nothing)."""
    what = "issuers" if name == CheckName.ISSUERS else "key versions"
    return warning(name, f"could not compare {what}: {error.get('message', 'unknown error')}",
                   region, code=error.get("code"))
