"""Entry points: HTTP runbook starters, the alert webhook, Event Grid and the drill timer."""

import azure.durable_functions as df

bp = df.Blueprint()

from triggers import health  # noqa: E402,F401  (registers on bp)
