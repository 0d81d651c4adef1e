"""Deterministic orchestrator functions. They never do I/O: every effect is an activity."""

import azure.durable_functions as df

bp = df.Blueprint()
