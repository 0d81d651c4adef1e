"""Save a full sync's report as the last sync status, and delete the run's plans."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activities.blueprint import bp
from activities.sync.store import LAST_DRY_RUN_KEY, LAST_REPORT_KEY, plans_prefix
from kvdr.services import Runtime, get_runtime


def save_report(runtime: Runtime, record: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the report as the last sync status (a dry run as the last dry run, so it never
    hides the state of the last real sync) and delete the run's plans."""
    key = LAST_DRY_RUN_KEY if record.get("dry_run") else LAST_REPORT_KEY
    runtime.state.put_json(key, dict(record))
    run_id = record.get("run_id")
    deleted = runtime.state.delete_prefix(plans_prefix(run_id)) if run_id else 0
    return {"ok": True, "key": key, "plans_deleted": deleted}


@bp.activity_trigger(input_name="record")
def sync_save_report(record: dict[str, Any]) -> dict[str, Any]:
    return save_report(get_runtime(), record)
