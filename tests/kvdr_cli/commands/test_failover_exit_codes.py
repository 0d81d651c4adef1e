"""Every outcome a failover/failback report can carry has an exit code (a missing one was a
KeyError traceback for the operator instead of an exit status)."""

from __future__ import annotations

from kvdr.failover.report import FailoverOutcome
from kvdr_cli.commands.failover import EXIT_CODES, EXIT_NOT_DONE


def test_every_outcome_has_an_exit_code() -> None:
    assert set(EXIT_CODES) == set(FailoverOutcome)


def test_a_runbook_that_lost_the_race_exits_not_done() -> None:
    assert EXIT_CODES[FailoverOutcome.LOST_RACE] == EXIT_NOT_DONE
