"""What status shows of renewal from the last sync record, pure: the lines and problems of a
section, a step that did not run, capped lists, and records without (or with a malformed)
renewal field showing nothing rather than failing."""

from __future__ import annotations

from kvdr.status_renewal import renewal_lines, renewal_of, renewal_problems


def changes(region: str, failures: int = 0, omitted: int = 0) -> dict:
    return {"region": region, "armed": 0, "disarmed": 0, "policies_updated": 0,
            "ledger_written": 0, "left_alone": [], "omitted": omitted,
            "failures": [{"kind": "key", "name": f"k{i}", "code": "vault.throttled",
                          "message": "busy"} for i in range(failures)]}


def section(**extra) -> dict:
    return {"primary": changes("east"), "secondary": changes("west"), "contacts": "unchanged",
            "issuers": [], "diverged_keys": [], **extra}


def test_the_section_of_the_target_is_found_and_absence_is_nothing() -> None:
    report = {"renewal": {"west": section()}}
    assert renewal_of(report, "west") == section()
    assert renewal_of(report, "north") is None
    assert renewal_of({"status": "succeeded"}, "west") is None  # older record
    assert renewal_of(None, "west") is None
    assert renewal_of({"renewal": ["not", "a", "mapping"]}, "west") is None
    assert renewal_lines(None) == [] and renewal_problems(None) == []


def test_a_step_that_did_not_run_is_shown_and_is_a_problem() -> None:
    failed = section(error={"code": "topology.fenced", "message": "epoch moved"})
    assert renewal_lines(failed) == [
        "renewal: not aligned by the last sync [topology.fenced] epoch moved"]
    [problem] = renewal_problems(failed)
    assert problem.startswith("the last sync's renewal step did not run ([topology.fenced] "
                              "epoch moved)")


def test_failures_on_both_sides_are_counted_named_and_capped() -> None:
    busy = section(primary=changes("east", failures=3),
                   secondary=changes("west", failures=9, omitted=5))
    [problem] = renewal_problems(busy)
    assert problem.startswith("the last sync's renewal step failed for 17 item(s) (key 'k0' "
                              "in east [vault.throttled]")
    assert "key 'k6' in west" in problem and "key 'k7' in west" not in problem
    assert "and 7 more" in problem


def test_capped_diverged_keys_count_what_was_left_out_and_malformed_entries_are_skipped(
        ) -> None:
    keys = [{"name": f"k{i}", "versions_behind": 1, "seconds_behind": 30} for i in range(12)]
    shown = section(diverged_keys=[*keys, "junk"], diverged_keys_omitted=88,
                    issuers=[{"name": "ca", "problem": "extra", "primary_provider": None,
                              "secondary_provider": "DigiCert"}],
                    contacts="failed: vault.forbidden")
    lines = renewal_lines(shown)
    assert lines[0] == "renewal: issuers differ (1): ca only in the secondary"
    assert lines[1].startswith("renewal: keys diverged (100): k0 1 version(s), 30 s behind")
    assert lines[1].endswith("and 90 more")
    assert lines[2] == "renewal: certificate contacts not replicated (failed: vault.forbidden)"
    assert renewal_problems(shown) == []  # differences and contacts are shown, not problems
