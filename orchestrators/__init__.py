"""Deterministic orchestrator functions. They never do I/O: every effect is an activity.

Importing the package imports every function module, so each registers on ``bp``
(:mod:`orchestrators.blueprint`).
"""

from orchestrators import drill, failover, full_sync, restore
from orchestrators.blueprint import bp

__all__ = ["bp", "drill", "failover", "full_sync", "restore"]
