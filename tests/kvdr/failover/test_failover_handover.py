"""What the failover report says of the renewal hand-over, pure: the summary line, the messages
for vaults not reached and items that failed (named), a hand-over that did not run, and the
report's ``renewal`` field surviving its round trip."""

from __future__ import annotations

from datetime import UTC, datetime

from kvdr.errors import VaultError
from kvdr.failover.handover import HANDOVER_FAILED_CODE, handover_messages, handover_summary
from kvdr.failover.report import FailoverOutcome, FailoverReport
from kvdr.renewal.ownership import HandOver, RenewalChanges
from kvdr.vault.inventory import ItemKind

STARTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def handover(*, unreached: dict[str, str] | None = None, failures: int = 0) -> dict:
    west = RenewalChanges("west", armed=2, policies_updated=2, ledger_written=2)
    east = RenewalChanges("east", disarmed=2, policies_updated=2, ledger_written=2)
    for i in range(failures):
        east.failed(ItemKind.CERTIFICATE, f"cert-{i:02d}",
                    VaultError("the vault refused the write", code="vault.forbidden"))
    result = HandOver(west, [] if unreached else [east], dict(unreached or {}))
    return result.to_dict()


def test_a_clean_hand_over_needs_no_message_and_sums_up_in_one_line() -> None:
    renewal = handover()
    assert handover_messages("west", renewal) == ()
    assert handover_summary(renewal) == "west armed 2; east disarmed 2"


def test_a_vault_not_reached_is_disarmed_by_the_next_sync_that_reaches_it() -> None:
    renewal = handover(unreached={"east": "vault.unreachable"})
    [message] = handover_messages("west", renewal)
    assert message == ("renewal hand-over: east [vault.unreachable] not reached; vaults not "
                       "reached are disarmed by the next sync that reaches them (at the latest "
                       "at failback's reconcile)")
    assert handover_summary(renewal) == "west armed 2; not reached: east"


def test_items_that_could_not_be_disarmed_are_named_and_capped() -> None:
    renewal = handover(failures=12)
    assert renewal["ok"] is False
    [message] = handover_messages("west", renewal)
    assert message.startswith("renewal hand-over: not disarmed in east: certificate 'cert-00' "
                              "[vault.forbidden], certificate 'cert-01'")
    assert "cert-09" in message and "cert-10" not in message
    assert message.endswith(" and 2 more; the next sync retries them")
    assert handover_summary(renewal) == "west armed 2; east disarmed 2; 12 item(s) failed"


def test_a_hand_over_that_did_not_run_says_so_and_that_the_switch_stands() -> None:
    [message] = handover_messages("west", None, {"code": "vault.unreachable",
                                                 "message": "west did not answer"})
    assert message.startswith("the renewal hand-over did not run [vault.unreachable]: west did "
                              "not answer; the switch stands")
    assert "the next sync arms west's renewals from its ledger" in message
    assert HANDOVER_FAILED_CODE in handover_messages("west", None)[0]
    assert handover_summary({"ok": False, "error": {"code": HANDOVER_FAILED_CODE}}) == \
        f"did not run [{HANDOVER_FAILED_CODE}]"


def test_the_reports_renewal_field_round_trips_and_shows_in_the_text() -> None:
    report = FailoverReport("f1", "planned", "west", "ops", "maintenance", STARTED,
                            source="east", renewal=handover()).finish(
        FailoverOutcome.COMPLETED, STARTED)
    data = report.to_dict()
    assert data["renewal"] == handover()
    assert FailoverReport.from_dict(data) == report
    assert "  renewal hand-over: west armed 2; east disarmed 2" in report.render_text()
    old = {k: v for k, v in data.items() if k != "renewal"}  # a report from before renewal
    assert FailoverReport.from_dict(old).renewal is None
    assert "renewal" not in FailoverReport.from_dict(old).render_text()
