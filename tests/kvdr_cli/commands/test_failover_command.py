"""`kvdr failover` and `kvdr failback` against emulated vaults: as a subprocess the way an
operator runs them, and in-process where the test plays the terminal (the confirmation
prompt) or leaves a runbook unfinished in the state directory."""

from __future__ import annotations

import io
import json
import time
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.testing import Emulator
from kvdr.failover.request import FailoverKind, FailoverRequest
from kvdr.services import local_runtime
from kvdr.topology.store import current_topology
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from kvdr_cli.commands import failover as command
from kvdr_cli.commands.local import local_engine
from support.cli import run_kvdr, two_regions, write_toml

SECRET_VALUE = "cli-failover-value-5d1e"  # must never be printed


class Terminal(io.StringIO):
    """What the operator types, on something that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.fixture
def setup(emulator: Emulator, tmp_path: Path) -> tuple[Emulator, list[str]]:
    """east primary at epoch 1 in both vaults; the options naming the config and state dir."""
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    state = tmp_path / "state"
    runtime = local_runtime(config, state)
    try:
        current_topology(runtime.config, runtime.sessions())
    finally:
        runtime.close()
    return emulator, ["--config", str(config), "--state-dir", str(state)]


def records(emu: Emulator) -> dict[str, tuple[str, int]]:
    found = {}
    for region in ("east", "west"):
        record = json.loads(emu.secret_client(region).get_secret(TOPOLOGY_SECRET_NAME).value)
        found[region] = (record["primary"], record["epoch"])
    return found


def run_in_process(argv: list[str], *, typed: str | None = None,
                   kind: FailoverKind = FailoverKind.PLANNED) -> int:
    stdin = Terminal(typed) if typed is not None else io.StringIO()
    try:
        return command.main(argv, kind=kind, stdin=stdin)
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code or 0)


# --- as an operator runs it -----------------------------------------------------------------


@pytest.mark.slow
def test_failover_then_failback_with_yes_switch_and_print_the_report(
        setup: tuple[Emulator, list[str]], tmp_path: Path) -> None:
    emu, options = setup
    emu.secret_client("east").set_secret("written-before-failover", SECRET_VALUE)

    done = run_kvdr("failover", "--target", "west", "--reason", "east maintenance", "--yes",
                    *options, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "planned east -> west: completed (epoch 1 -> 2)" in done.stdout
    assert "RTO " in done.stdout and "drain: succeeded (create 1)" in done.stdout
    assert "failover: " in done.stderr  # the phases, followed on stderr
    assert records(emu) == {"east": ("west", 2), "west": ("west", 2)}
    assert emu.secret_client("west").get_secret("written-before-failover").value == \
        SECRET_VALUE  # drained before the switch

    back = run_kvdr("failback", "--target", "east", "--reason", "maintenance over", "--yes",
                    "--json", *options, cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    report = json.loads(back.stdout)
    assert (report["kind"], report["outcome"]) == ("failback", "completed")
    assert (report["source"], report["target"], report["epoch_after"]) == ("west", "east", 3)
    assert report["reason"] == "maintenance over"
    assert report["requested_by"].endswith("(kvdr cli)")
    assert records(emu) == {"east": ("east", 3), "west": ("east", 3)}

    again = run_kvdr("failback", "--target", "east", "--reason", "again", "--yes", *options,
                     cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "not_needed" in again.stdout and "already the primary" in again.stdout
    for result in (done, back, again):
        assert SECRET_VALUE not in result.stdout + result.stderr


@pytest.mark.slow
def test_a_dry_run_prints_the_plan_and_changes_nothing(setup: tuple[Emulator, list[str]],
                                                       tmp_path: Path) -> None:
    emu, options = setup
    result = run_kvdr("failover", "--target", "west", "--reason", "rehearsal", "--dry-run",
                      *options, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "plan: planned east -> west, epoch 1 -> 2" in result.stdout
    assert "steps: reconcile, drain, switch, verify" in result.stdout
    assert "planned_only" in result.stdout
    assert "Proceed?" not in result.stderr  # a dry run asks nothing
    assert records(emu) == {"east": ("east", 1), "west": ("east", 1)}


@pytest.mark.slow
def test_an_unplanned_failover_switches_while_the_primary_is_down(
        setup: tuple[Emulator, list[str]], tmp_path: Path) -> None:
    emu, options = setup
    emu.down("east")
    try:
        result = run_kvdr("failover", "--unplanned", "--target", "west", "--reason",
                          "east region outage", "--yes", *options, cwd=tmp_path)
    finally:
        emu.up("east")
    assert result.returncode == 0, result.stderr
    assert "unplanned east -> west: completed (epoch 1 -> 2)" in result.stdout
    assert "not reached: east" in result.stdout
    # east keeps its old record until a failback; readers take the highest epoch
    assert records(emu) == {"east": ("east", 1), "west": ("west", 2)}


@pytest.mark.slow
def test_a_planned_failover_with_the_primary_down_is_blocked_and_exits_3(
        setup: tuple[Emulator, list[str]], tmp_path: Path) -> None:
    emu, options = setup
    emu.down("east")
    try:
        result = run_kvdr("failover", "--target", "west", "--reason", "r", "--yes", *options,
                          cwd=tmp_path)
    finally:
        emu.up("east")
    assert result.returncode == 3, result.stderr
    assert "blocked" in result.stdout and "unplanned" in result.stdout
    assert records(emu) == {"east": ("east", 1), "west": ("east", 1)}


def test_without_any_topology_record_it_is_blocked_and_exits_3(emulator: Emulator,
                                                                tmp_path: Path) -> None:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    result = run_kvdr("failover", "--target", "west", "--reason", "r", "--yes", "--config",
                      str(config), "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "blocked" in result.stdout and "full sync" in result.stdout


def test_without_a_terminal_it_asks_for_yes_exits_2_and_starts_nothing(
        setup: tuple[Emulator, list[str]], tmp_path: Path) -> None:
    emu, options = setup
    result = run_kvdr("failover", "--target", "west", "--reason", "r", *options, cwd=tmp_path)
    assert result.returncode == 2
    assert "--yes" in result.stderr and "--dry-run" in result.stderr
    assert not (tmp_path / "state" / "engine").exists()
    assert records(emu)["west"] == ("east", 1)


# --- usage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "argv", "says"), [
    (FailoverKind.PLANNED, ["--target", "west"], "--reason"),
    (FailoverKind.PLANNED, ["--reason", "r"], "--target"),
    (FailoverKind.PLANNED, ["--target", "mars", "--reason", "r", "--yes"],
     "unknown target region 'mars'"),
    (FailoverKind.PLANNED, ["--target", "west", "--reason", " ", "--yes"], "reason is required"),
    (FailoverKind.PLANNED, ["--target", "west", "--reason", "r", "--yes",
                            "--expected-epoch", "0"], "expected_epoch must be >= 1"),
    (FailoverKind.FAILBACK, ["--target", "east", "--reason", "r", "--unplanned"],
     "--unplanned"),
], ids=["no-reason", "no-target", "unknown-target", "blank-reason", "epoch-0",
        "failback-unplanned"])
def test_bad_usage_exits_2_saying_what_is_wrong(setup: tuple[Emulator, list[str]], kind,
                                                argv: list[str], says: str, capsys) -> None:
    emu, options = setup
    assert run_in_process([*argv, *options], kind=kind) == 2
    assert says in capsys.readouterr().err
    assert records(emu)["west"] == ("east", 1)


def test_a_missing_configuration_exits_2(tmp_path: Path, capsys) -> None:
    argv = ["--target", "west", "--reason", "r", "--yes", "--config",
            str(tmp_path / "nope.toml"), "--state-dir", str(tmp_path / "s")]
    assert run_in_process(argv) == 2
    assert "configuration error" in capsys.readouterr().err


# --- the confirmation prompt ----------------------------------------------------------------


def test_answering_yes_at_the_prompt_switches_and_records_who_approved(
        setup: tuple[Emulator, list[str]], capsys) -> None:
    emu, options = setup
    code = run_in_process(["--target", "west", "--reason", "maintenance", *options],
                          typed="y\n")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "plan: planned east -> west, epoch 1 -> 2" in err
    assert "steps: reconcile, drain, switch, verify" in err
    assert "waits for an answer until" in err
    assert err.index("plan: planned") < err.index("Proceed? [y/N]")
    assert "planned east -> west: completed (epoch 1 -> 2)" in out
    assert f"approval: approved by {command.operator()}" in out
    assert records(emu) == {"east": ("west", 2), "west": ("west", 2)}


@pytest.mark.parametrize("typed", ["n\n", "\n", "", "maybe\n"],
                         ids=["no", "enter", "end-of-input", "anything-else"])
def test_anything_but_yes_at_the_prompt_rejects_and_exits_3(
        setup: tuple[Emulator, list[str]], typed: str, capsys) -> None:
    emu, options = setup
    code = run_in_process(["--target", "west", "--reason", "maintenance", *options],
                          typed=typed)
    out, _err = capsys.readouterr()
    assert code == 3
    assert "planned east -> west: rejected" in out
    assert records(emu) == {"east": ("east", 1), "west": ("east", 1)}


def test_yes_and_dry_run_never_ask(setup: tuple[Emulator, list[str]], capsys) -> None:
    _emu, options = setup
    assert run_in_process(["--target", "west", "--reason", "r", "--dry-run", *options],
                          typed="n\n") == 0
    assert run_in_process(["--target", "west", "--reason", "r", "--yes", *options],
                          typed="n\n") == 0
    assert "Proceed?" not in capsys.readouterr().err


# --- one runbook at a time per state directory ----------------------------------------------


def test_an_unfinished_runbook_is_resumed_by_the_same_command_and_blocks_any_other(
        setup: tuple[Emulator, list[str]], tmp_path: Path, capsys) -> None:
    emu, options = setup
    # an operator's earlier `kvdr failover --target west` was killed at the prompt
    runtime = local_runtime(tmp_path / "kvdr.toml", tmp_path / "state")
    with local_engine(runtime, Namespace(state_dir=tmp_path / "state")) as engine:
        request = FailoverRequest(kind=FailoverKind.PLANNED, target="west", reason="earlier",
                                  requested_by="someone", approval_required=True)
        engine.start_new("failover", request.to_dict(), instance_id="planned-left-open")
        deadline = time.monotonic() + 60
        while (engine.get_status("planned-left-open").custom_status or {}).get("phase") \
                != "awaiting_approval":
            assert time.monotonic() < deadline, "the runbook never reached its approval gate"
            time.sleep(0.05)

    other = run_in_process(["--target", "east", "--reason", "r", "--yes", *options],
                           kind=FailoverKind.FAILBACK)
    dry = run_in_process(["--target", "west", "--reason", "r", "--dry-run", *options])
    err = capsys.readouterr().err
    assert (other, dry) == (3, 3)
    assert "planned-left-open" in err and "resume it" in err
    assert records(emu)["west"] == ("east", 1)

    resumed = run_in_process(["--target", "west", "--reason", "r", "--yes", *options])
    out, err = capsys.readouterr()
    assert resumed == 0, err
    assert "resuming the unfinished planned runbook to west (instance planned-left-open)" in err
    assert "planned east -> west: completed (epoch 1 -> 2)" in out
    assert records(emu) == {"east": ("west", 2), "west": ("west", 2)}
