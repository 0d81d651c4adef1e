"""Thin, idempotent activity functions; each calls into the `kvdr` library through its family
object (:mod:`activities.sync`, :mod:`activities.failover`, :mod:`activities.drill`), which holds
the services it is handed (:mod:`activities.services`).

Importing the package imports :mod:`activities.functions`, where every function registers on
``bp`` (:mod:`activities.blueprint`) and the families are built from the process's services.
"""

from activities import functions
from activities.blueprint import bp

__all__ = ["bp", "functions"]
