"""Which region is the primary, read for the alert webhook within a few seconds.

The webhook must answer Azure Monitor quickly even when the alerted vault hangs, so each vault
is read through a probe session (short timeouts, short backoff, as the failover's assessment
uses) on its own thread, and whatever has answered when :data:`PRIMARY_READ_SECONDS` is up is
what counts. The highest epoch among the records read wins (decision 1). None when no record
could be read, or two primaries share the highest epoch: the caller then falls back to starting
the runbook, which reads the topology again and decides.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from kvdr.errors import KvdrError
from kvdr.topology.record import TopologyRecord

__all__ = ["PRIMARY_READ_SECONDS", "PrimaryReading", "read_primary"]

logger = logging.getLogger(__name__)

PRIMARY_READ_SECONDS = 5.0  # the whole read; well within an action group webhook's patience


@dataclass(frozen=True)
class PrimaryReading:
    primary: str
    epoch: int


def _read(runtime: Any, region: str) -> TopologyRecord | None:
    from kvdr.topology.store import read_topology

    session = runtime.open_session(region, probe=True)
    try:
        return read_topology(session)
    finally:
        session.close()


def read_primary(runtime: Any, seconds: float = PRIMARY_READ_SECONDS) -> PrimaryReading | None:
    """The primary in force among the vaults that answer within ``seconds``."""
    from kvdr.topology.record import assess_topology

    regions = runtime.config.region_names
    pool = ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="kvdr-alert-probe")
    try:
        futures = {pool.submit(_read, runtime, region): region for region in regions}
        done, _late = wait(futures, timeout=seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung probe is left to time out
    records: dict[str, TopologyRecord | None] = dict.fromkeys(regions)
    for future in done:
        region = futures[future]
        try:
            records[region] = future.result()
        except KvdrError as exc:
            logger.info("alert webhook: topology of %s not read [%s]", region, exc.code)
        except Exception as exc:  # anything else: that vault does not count
            logger.warning("alert webhook: topology of %s not read (%s)", region,
                           type(exc).__name__)
    if all(r is None for r in records.values()):
        return None
    try:
        view = assess_topology(records)
    except KvdrError as exc:
        logger.warning("alert webhook: topology not assessed [%s]", exc.code)
        return None
    if view.split_brain:
        return None
    return PrimaryReading(view.current.primary, view.current.epoch)
