"""Records the engine stores and returns: runtime status and an instance's status snapshot."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RuntimeStatus(StrEnum):
    """The Durable extension's runtime statuses, spelled as its HTTP API spells them."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in (RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED)


# An instance in one of these may not be started again under its id (InstanceExists).
ACTIVE_STATUSES = (RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.SUSPENDED,
                   RuntimeStatus.CONTINUED_AS_NEW)


@dataclass
class InstanceStatus:
    """One instance as the management API reports it. JSON fields hold JSON text."""

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    created_time: datetime
    last_updated_time: datetime
    input_json: str | None = None
    output_json: str | None = None
    custom_status_json: str | None = None
    parent_instance_id: str | None = None
    history: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def input(self) -> Any:
        return _loads(self.input_json)

    @property
    def output(self) -> Any:
        return _loads(self.output_json)

    @property
    def custom_status(self) -> Any:
        return _loads(self.custom_status_json)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
