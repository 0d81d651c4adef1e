"""The drill's probe secret is written once per run even when the secondary applied the write
and the answer was lost (a connection dropped after the write): one version, not two."""

from __future__ import annotations

from activities.drill import DrillActivities
from kvdr.drill.contracts import MeasureRequest
from kvdr.drill.measure import PROBE_RUN_TAG, PROBE_SECRET_NAME
from support.sync import SyncEnv


def test_a_probe_write_whose_answer_was_lost_leaves_one_version(sync_env: SyncEnv) -> None:
    env = sync_env
    env.emu.inject_fault("west", "drop_after_write", method="PUT",
                         path=f"/secrets/{PROBE_SECRET_NAME}")
    measured = DrillActivities(env.runtime).rehearse_rto(
        MeasureRequest("drill-dropped", "east", "west", 1))
    assert measured.check.passed, measured.check.message
    versions = list(env.emu.secret_client("west").list_properties_of_secret_versions(
        PROBE_SECRET_NAME))
    assert len(versions) == 1
    assert versions[0].tags[PROBE_RUN_TAG] == "drill-dropped"
