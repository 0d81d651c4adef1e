"""Entry points: HTTP runbook starters, the alert webhook, Event Grid and the drill timer.

Importing the package imports every function module, so each registers on ``bp``
(:mod:`triggers.blueprint`).
"""

from triggers import (
    alerts,
    drill,
    events,
    failover,
    health,
    restore,
    runbooks,
    status,
    timers,
    topology,
)
from triggers.blueprint import bp

__all__ = ["alerts", "bp", "drill", "events", "failover", "health", "restore", "runbooks",
           "status", "timers", "topology"]
