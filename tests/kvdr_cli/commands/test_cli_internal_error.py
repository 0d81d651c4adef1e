"""An error or Ctrl-C no command handles ends in one line (exit 70 or 130), never a Python
traceback."""

from __future__ import annotations

import logging

import pytest

from kvdr_cli import main as cli


def _broken(argv: object) -> int:
    raise RuntimeError("unexpected state with s3cr3t-value inside")


@pytest.fixture
def broken_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._COMMANDS, "status", ("replication status", _broken))


def test_an_unhandled_error_is_one_line_and_exit_70_without_traceback(
        broken_status: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KVDR_DEBUG", raising=False)
    assert cli.main(["status"]) == cli.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and "internal error in 'kvdr status' (RuntimeError)" in err
    assert "s3cr3t-value" not in err   # the exception's own message is never echoed


def test_kvdr_debug_shows_the_traceback_on_request(
        broken_status: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("KVDR_DEBUG", "1")
    with caplog.at_level(logging.ERROR, logger="kvdr"):
        assert cli.main(["status"]) == 70
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


def test_ctrl_c_in_a_command_without_a_checkpoint_is_exit_130_without_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(argv: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "status", ("replication status", interrupted))
    assert cli.main(["status"]) == 130
    assert capsys.readouterr().err == "kvdr: 'kvdr status' interrupted\n"
