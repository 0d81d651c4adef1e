"""Entry points: HTTP runbook starters, the alert webhook, Event Grid and the drill timer."""

import azure.durable_functions as df

bp = df.Blueprint()

import triggers.alerts  # noqa: E402  (registers on bp)
import triggers.drill  # noqa: E402  (registers on bp)
import triggers.events  # noqa: E402  (registers on bp)
import triggers.failover  # noqa: E402  (registers on bp)
import triggers.runbooks  # noqa: E402  (registers on bp)
import triggers.status  # noqa: E402  (registers on bp)
import triggers.timers  # noqa: E402,F401  (registers on bp)
from triggers import health  # noqa: E402,F401  (registers on bp)
