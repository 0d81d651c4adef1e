"""Thin, idempotent activity functions; each one calls into the `kvdr` library.

Importing the package imports every function module, so each registers on ``bp``
(:mod:`activities.blueprint`).
"""

from activities import drill, failover, sync
from activities.blueprint import bp

__all__ = ["bp", "drill", "failover", "sync"]
