"""The drill's renewal verdicts, pure: the ownership check fails naming items and the vaults
that renew them (and when a policy could not be read), issuer and key-version differences are
warnings that never fail the drill, and checks keep their items through a round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kvdr.drill.checks import CheckName, CheckStatus, DrillCheck
from kvdr.drill.preflight import Preflight, preflight
from kvdr.drill.renewal import issuers_check, key_versions_check, ownership_check
from kvdr.drill.report import DrillReport, DrillResult
from kvdr.renewal.compare import IssuerDifference, KeyDivergence, OwnershipProblem
from kvdr.topology.reading import RecordRead
from kvdr.topology.record import TopologyRecord
from kvdr.vault.inventory import ItemKind

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_ownership_passes_when_no_item_has_a_problem() -> None:
    check = ownership_check("east", [], {"east": 3, "west": 3}, unreachable=["north"])
    assert check.status == CheckStatus.PASSED
    assert check.message == ("only the primary east renews or rotates; certificates and keys "
                             "checked per vault: east (3), west (3); not checked "
                             "(unreachable): north")


def test_ownership_fails_naming_each_item_and_the_vaults_that_renew_it() -> None:
    problems = [OwnershipProblem(ItemKind.CERTIFICATE, f"cert-{i:02d}", ("east", "west"),
                                 "armed-copy") for i in range(12)]
    problems.append(OwnershipProblem(ItemKind.KEY, "signing", (), "primary-disarmed"))
    check = ownership_check("east", problems, {"east": 13, "west": 13})
    assert check.status == CheckStatus.FAILED and not check.passed
    assert "13 item(s) not owned by the primary east alone: certificate 'cert-00' renews on " \
           "its own in east, west, not only in the primary" in check.message
    assert "cert-09" in check.message and "cert-10" not in check.message
    assert " and 3 more" in check.message
    assert len(check.items) == 13
    assert check.items[-1] == {"kind": "key", "name": "signing", "armed_in": [],
                               "problem": "primary-disarmed"}
    assert check.counts == {"items": 13, "problems": 13, "unreadable": 0}


def test_ownership_that_could_not_be_read_is_unproven_and_fails() -> None:
    unreadable = [{"region": "west", "kind": "certificate", "name": "tls", "code":
                   "vault.forbidden", "message": "denied"}]
    check = ownership_check("east", [], {"east": 1, "west": 0}, unreadable=unreadable,
                            unreadable_omitted=4)
    assert check.status == CheckStatus.FAILED and check.code == "vault.forbidden"
    assert "5 read(s) failed, so ownership is unproven: certificate 'tls' in west " \
           "[vault.forbidden] and 4 more" in check.message
    assert check.items == ({**unreadable[0], "problem": "unreadable"},)


def test_issuer_and_key_differences_are_warnings_that_do_not_fail_the_drill() -> None:
    issuers = issuers_check("west", "east", [IssuerDifference("digicert", "DigiCert", None)])
    keys = key_versions_check("west", "east", [KeyDivergence(
        "signing", 2, NOW, NOW - timedelta(days=3))], compared=4)
    assert (issuers.status, keys.status) == (CheckStatus.WARNING, CheckStatus.WARNING)
    assert "digicert (missing: east DigiCert, west -)" in issuers.message
    assert "1 of 4 key(s) in west hold an older version than east's latest: signing " \
           "(2 version(s), 3.0 days behind)" in keys.message
    assert keys.items[0]["seconds_behind"] == 3 * 86_400
    report = DrillReport("d1", NOW, checks=(DrillCheck(CheckName.RPO, CheckStatus.PASSED, "ok",
                                                       "west"), issuers, keys))
    assert report.result == DrillResult.PASSED
    assert report.to_dict()["warnings"] == ["issuers:west", "key_versions:west"]
    assert report.to_dict()["failed_checks"] == []
    assert "[warning] issuers:west:" in report.render_text()
    assert DrillReport.from_dict(report.to_dict()).checks == report.checks  # items survive


def test_no_difference_passes_and_an_older_check_without_items_still_reads() -> None:
    assert issuers_check("west", "east", []).status == CheckStatus.PASSED
    assert key_versions_check("west", "east", [], compared=0).counts == {"compared": 0}
    old = {"name": "rpo", "status": "passed", "message": "in sync", "region": "west"}
    assert DrillCheck.from_dict(old).items == ()


def test_the_preflight_names_the_vaults_that_did_not_answer() -> None:
    record = TopologyRecord("east", 2, NOW - timedelta(days=1), "ops", "test")
    found = preflight(("east", "west", "north"), {
        "east": RecordRead("east", record), "west": RecordRead("west", record),
        "north": RecordRead("north", None, error_code="vault.unreachable")})
    assert found.unreachable == ("north",)
    assert found.reachable(("east", "west", "north")) == ("east", "west")
    assert Preflight.from_dict(found.to_dict()) == found
    assert Preflight.from_dict({"checks": []}).unreachable == ()
