"""Thin, idempotent activity functions; each one calls into the `kvdr` library."""

import azure.durable_functions as df

bp = df.Blueprint()
