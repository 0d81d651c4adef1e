"""The report's ``renewal`` section: chunks and pairs merge, the report round-trips it, and a
renewal failure makes a run partial without counting as an item failure."""

from __future__ import annotations

from datetime import UTC, datetime

from kvdr.sync.contracts import RenewalRequest, RenewalResult
from kvdr.sync.model import SyncMode
from kvdr.sync.renewal_section import (
    MAX_CHANGES_LISTED,
    MAX_KEYS_LISTED,
    empty_section,
    failed_section,
    has_failures,
    merge_sections,
)
from kvdr.sync.report import SyncReport

START = datetime(2030, 1, 1, tzinfo=UTC)


def _chunk(disarmed: int, *, failures: int = 0, keys: int = 0, contacts: str = "unchanged",
           issuers: list | None = None) -> dict:
    section = empty_section("east", "west")
    section["secondary"].update(
        disarmed=disarmed, policies_updated=disarmed,
        failures=[{"kind": "certificate", "name": f"c{i}", "code": "vault.forbidden",
                   "message": "m"} for i in range(failures)])
    section["diverged_keys"] = [{"name": f"k{i}", "versions_behind": 1} for i in range(keys)]
    section["contacts"] = contacts
    section["issuers"] = issuers or []
    return section


def test_chunks_of_one_step_add_up_and_stay_capped() -> None:
    first = _chunk(3, contacts="copied", issuers=[{"name": "digicert", "problem": "missing"}],
                   failures=MAX_CHANGES_LISTED, keys=MAX_KEYS_LISTED)
    merged = merge_sections(first, _chunk(2, failures=3, keys=5))
    assert merged["secondary"]["disarmed"] == 5 and merged["secondary"]["policies_updated"] == 5
    assert len(merged["secondary"]["failures"]) == MAX_CHANGES_LISTED
    assert merged["secondary"]["omitted"] == 3
    assert len(merged["diverged_keys"]) == MAX_KEYS_LISTED
    assert merged["diverged_keys_omitted"] == 5
    assert merged["contacts"] == "copied"  # only the first chunk handles the contacts
    assert merged["issuers"] == [{"name": "digicert", "problem": "missing"}]


def test_a_renewal_failure_makes_the_run_partial_but_no_item_failed() -> None:
    report = SyncReport("east", ("west",), START).with_renewal("west", _chunk(1))
    assert report.finish(START).status == "succeeded"
    for section in (_chunk(0, failures=1), _chunk(0, contacts="failed: vault.forbidden"),
                    failed_section("east", "west", {"code": "topology.fenced",
                                                    "message": "fenced"})):
        assert has_failures(section)
        failed = SyncReport("east", ("west",), START).with_renewal("west", section)
        assert failed.finish(START).status == "partial"
        assert failed.failed_count == 0


def test_the_report_keeps_the_section_of_every_pair_through_json() -> None:
    west = SyncReport("east", ("west",), START).with_renewal("west", _chunk(2))
    europe = SyncReport("east", ("europe",), START).with_renewal("europe", _chunk(1, keys=1))
    merged = SyncReport("east", (), START).merge(west).merge(europe).finish(START)
    data = merged.to_dict()
    assert set(data["renewal"]) == {"west", "europe"}
    assert data["renewal"]["west"]["secondary"]["disarmed"] == 2
    again = SyncReport.from_dict(data)
    assert again.renewal == merged.renewal and again.to_dict() == data
    assert "renewal west: 2 copies disarmed" in merged.render_text()
    assert SyncReport.from_dict({k: v for k, v in data.items() if k != "renewal"}).renewal == {}


def test_the_renewal_contracts_name_the_primary_by_mode() -> None:
    sync = RenewalRequest("r", "east", "west", 3)
    assert (sync.primary, sync.secondary) == ("east", "west")
    drain = RenewalRequest("r", "west", "east", 3, mode=SyncMode.DRAIN)
    assert (drain.primary, drain.secondary) == ("west", "east")
    reconcile = RenewalRequest("r", "east", "west", 3, mode=SyncMode.RECONCILE, cursor=500)
    assert (reconcile.primary, reconcile.secondary) == ("west", "east")
    assert RenewalRequest.from_dict(reconcile.to_dict()) == reconcile
    result = RenewalResult("east", _chunk(1), 1000, {"east": 4})
    assert RenewalResult.from_dict(result.to_dict()) == result
    assert RenewalResult.from_dict(RenewalResult("east", {}).to_dict()).next_cursor is None
