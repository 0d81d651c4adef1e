"""The rotation activity family: the scan at the end of a full sync (:mod:`kvdr.rotation.scan`).

Only the primary publishes: the scan runs only in the app of the primary's region (an app with
no region, the operator's machine, runs it too), and only when a fresh read of the topology
still names the primary the sync ran from. It never raises for what it finds: the envelope
carries counts, item names and error codes, so a queue outage never fails the sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from activities.services import ActivityServices, open_sessions
from activities.sync.store import rotation_inputs_key
from kvdr.config.schema import Config
from kvdr.errors import KvdrError
from kvdr.rotation.announce import MarkerCopies
from kvdr.rotation.contracts import ScanRequest, ScanResult
from kvdr.rotation.publisher import RotationPublisher, rotation_publisher
from kvdr.rotation.scan import ScanInputs, scan_primary
from kvdr.topology.reading import probe_primary
from kvdr.vault.inventory import parse_time

logger = logging.getLogger(__name__)

SCAN_FAILED_CODE = "rotation.scan_failed"

PublisherFor = Callable[[Config], RotationPublisher | None]


class RotationActivities:
    def __init__(self, services: ActivityServices,
                 publisher_for: PublisherFor = rotation_publisher) -> None:
        self._services = services
        self._publisher_for = publisher_for

    def scan(self, request: ScanRequest) -> ScanResult:
        try:
            return self._scan(request)
        except KvdrError as exc:
            logger.warning("rotation scan failed: %s", exc)
            return ScanResult(ok=False, primary=request.primary, epoch=request.epoch,
                              error=exc.to_dict())
        except Exception as exc:  # the envelope, never a failed sync, for an unforeseen error
            logger.exception("rotation scan failed")
            return ScanResult(ok=False, primary=request.primary, epoch=request.epoch,
                              error={"code": SCAN_FAILED_CODE,
                                     "message": f"{type(exc).__name__} during the scan"})

    def _scan(self, request: ScanRequest) -> ScanResult:
        config = self._services.config
        publisher = self._publisher_for(config)
        if publisher is None:
            return ScanResult(skipped="publishing off", primary=request.primary,
                              epoch=request.epoch)
        local = config.topology.local_region
        if local is not None and local != request.primary:
            # the primary's own app publishes, to its region's queue (as its events do)
            return ScanResult(skipped=f"this app runs in {local}, not the primary's region",
                              primary=request.primary, epoch=request.epoch)
        reading = probe_primary(lambda region: self._services.open_session(region, probe=True),
                                config.region_names)
        if reading is None or reading.split_brain or reading.primary != request.primary:
            now_primary = reading.primary if reading else "unknown"
            return ScanResult(skipped=f"the primary is now {now_primary}",
                              primary=request.primary, epoch=request.epoch)
        now = parse_time(request.now) or datetime.now(UTC)
        others = [r for r in config.region_names if r != reading.primary]
        copies = MarkerCopies(others, lambda region: self._services.open_session(
            region, probe=True))
        try:
            with open_sessions(self._services, [reading.primary]) as sessions:
                kept = self._services.state.get_json(rotation_inputs_key(request.run_id))
                return scan_primary(sessions[reading.primary], publisher, epoch=reading.epoch,
                                    now=now, copies=copies,
                                    inputs=None if kept is None else ScanInputs.from_dict(kept))
        finally:
            copies.close()
