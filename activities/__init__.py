"""Thin, idempotent activity functions; each one calls into the `kvdr` library."""

import azure.durable_functions as df

bp = df.Blueprint()

import activities.drill  # noqa: E402  (registers on bp)
import activities.failover  # noqa: E402,F401  (registers on bp)
from activities import sync  # noqa: E402,F401  (registers on bp)
