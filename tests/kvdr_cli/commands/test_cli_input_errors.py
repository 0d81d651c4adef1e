"""Bad input on the command line ends with a one-line error and a documented exit code, never
a Python traceback (run as an operator runs it: a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_kvdr

COMMANDS = ("status", "sync", "drill")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_as_config_exits_2_without_a_traceback(command: str, tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    result = run_kvdr(command, "--config", str(folder), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "is a directory" in result.stderr and "[config.invalid]" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_config_file_that_is_not_utf8_exits_2_without_a_traceback(command: str,
                                                                      tmp_path: Path) -> None:
    config = tmp_path / "kvdr.toml"
    config.write_bytes('[topology]\ninitial_primary = "\u00e9ast"\n'.encode("latin-1"))
    result = run_kvdr(command, "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "not UTF-8" in result.stderr and "line 2" in result.stderr
    assert not (tmp_path / ".kvdr" / "engine").exists()  # nothing started
