"""The local durable host: runs a DFApp's orchestrators through the Durable SDK's own replay
executor, checkpoints every instance in SQLite, and serves the Durable extension's HTTP
management API and the app's HTTP, timer and Event Grid triggers on loopback.

A local stand-in for the Durable Functions extension, not a replacement for it.
"""

from engine.clock import Clock, ManualClock, RealClock
from engine.errors import EngineError, InstanceNotFound, OrchestrationFailed
from engine.records import InstanceStatus, RuntimeStatus
from engine.runtime import Engine

__all__ = [
    "Clock",
    "Engine",
    "EngineError",
    "InstanceNotFound",
    "InstanceStatus",
    "ManualClock",
    "OrchestrationFailed",
    "RealClock",
    "RuntimeStatus",
]
