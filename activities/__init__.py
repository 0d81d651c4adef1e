"""Thin, idempotent activity functions; each one calls into the `kvdr` library."""

import azure.durable_functions as df

bp = df.Blueprint()

from activities import sync  # noqa: E402,F401  (registers on bp)
