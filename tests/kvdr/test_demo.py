"""`make demo` tells the whole story and proves its claims (a small run of the same code)."""

from __future__ import annotations

from kvdr import demo


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
    assert "seeded values found in" in out and out.rstrip().endswith("are stopped.")
    assert ": 0\n" in out.split("seeded values found in", 1)[1]
