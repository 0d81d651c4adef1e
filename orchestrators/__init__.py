"""Deterministic orchestrator functions. They never do I/O: every effect is an activity."""

import azure.durable_functions as df

bp = df.Blueprint()

import orchestrators.drill  # noqa: E402  (registers on bp)
import orchestrators.failover  # noqa: E402,F401  (registers on bp)
from orchestrators import full_sync  # noqa: E402,F401  (registers on bp)
