"""Names outside the code depend on: the custom events that alert rules, workbooks and
dashboards query. Moving a module must never rename them (a restructure once did)."""

from __future__ import annotations

from activities.failover import COMPLETED_EVENT
from kvdr.drill.report import DRILL_COMPLETED_EVENT
from support import bicep_model as bm


def test_custom_event_names_are_the_published_ones() -> None:
    assert DRILL_COMPLETED_EVENT == "kvdr.drill.completed"
    assert COMPLETED_EVENT == "kvdr.failover.completed"


def test_the_drill_failure_alert_queries_the_published_event_name() -> None:
    alerts = (bm.BICEP_DIR / "modules" / "operatorAlerts.bicep").read_text()
    assert "kvdr.drill.completed" in alerts
