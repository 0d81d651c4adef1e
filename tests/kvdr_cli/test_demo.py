"""`make demo` tells the whole story and proves its claims (a small run of the same code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kvdr_cli import demo


def test_the_demo_syncs_drills_fails_over_on_an_alert_fails_back_and_leaks_no_value(capsys):
    assert demo.main(["--secrets", "12"]) == 0
    out = capsys.readouterr().out
    assert "sync eastus -> westus: succeeded" in out
    assert "copy stored in westus" in out and "no copy within" not in out
    assert "writes on westus: 0;" in out
    assert "primary eastus at epoch 1" in out
    assert "PASSED — primary eastus at epoch 1" in out  # the drill
    assert "POST /api/alerts -> HTTP 202: started" in out
    assert "unplanned eastus -> westus: completed (epoch 1 -> 2)" in out
    assert "failback westus -> eastus: completed (epoch 2 -> 3)" in out
    assert "outage writes now on eastus: 3 of 3" in out
    assert "primary eastus at epoch 3" in out
    assert "renewal hand-over: westus armed 2; not reached: eastus" in out
    assert "renewal hand-over: eastus armed 2; westus disarmed 2" in out
    # ten months later only the primary renewed; the copies followed
    assert "web-tls: eastus 2 versions (1 renewal minted there); westus 2 versions, 0 minted " \
        "there" in out
    assert "seeded values found in" in out and "are stopped." in out
    assert ": 0\n" in out.split("seeded values found in", 1)[1]
    assert out.rstrip().endswith("`make demo KEEP=1` (or --keep) keeps it.")


def test_make_demo_keep_keeps_the_reports_it_names_and_warnings_stay_in_its_log(tmp_path):
    """`make demo KEEP=1` runs the demo with --keep; run so (a subprocess, its stderr on the
    terminal between the story's lines), no warning interrupts the story and the reports it
    names at the end exist."""
    root = Path(__file__).resolve().parents[2]
    planned = subprocess.run(["make", "-s", "-n", "-C", str(root), "demo", "KEEP=1"],
                             capture_output=True, text=True, timeout=60)
    assert planned.stdout.strip().endswith("-m kvdr_cli.demo --keep"), planned.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env.update(PYTHONPATH=str(root), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "kvdr_cli.demo", "--secrets", "12", "--keep"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "WARNING" not in out and "Traceback" not in out
    named = [Path(line.strip()) for line in out.split("Reports (JSON)", 1)[1].splitlines()[1:5]]
    assert [p.name for p in named] == ["last-report.json"] * 3 + ["demo.log"]
    assert all(p.is_file() for p in named)
    assert json.loads(named[0].read_text())["status"] == "succeeded"
    assert "vault.unreachable" in named[3].read_text()  # eastus was taken down on purpose
    assert f"Kept in {named[3].parent}" in out
