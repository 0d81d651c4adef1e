"""Which region is the primary, read for the alert webhook within a few seconds.

The webhook must answer Azure Monitor quickly even when the alerted vault hangs, so the records
are read as every async trigger reads them (:func:`kvdr.topology.reading.probe_primary`: probe
sessions, one thread per vault, whatever has answered when :data:`PRIMARY_READ_SECONDS` is up),
under the one rule for unreachable and unreadable vaults. None when no record counts, or two
primaries share the highest epoch: the caller then falls back to starting the runbook, which
reads the topology again and decides.
"""

from __future__ import annotations

from kvdr.services import Runtime
from kvdr.topology.reading import PRIMARY_READ_SECONDS, PrimaryReading, probe_primary

__all__ = ["PRIMARY_READ_SECONDS", "PrimaryReading", "read_primary"]


def read_primary(runtime: Runtime, seconds: float = PRIMARY_READ_SECONDS) -> PrimaryReading | None:
    """The primary in force among the vaults that answer within ``seconds`` (None: unknown,
    or a split brain)."""
    reading = probe_primary(runtime.open_probe, runtime.config.region_names, seconds)
    return None if reading is None or reading.split_brain else reading
