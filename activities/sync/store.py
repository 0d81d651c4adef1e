"""Where the full sync keeps its state: the state store's keys for the last reports, the
stored batches of a run's plans and the first sightings of missing items."""

from __future__ import annotations

from kvdr.state.store import StateStore
from kvdr.sync.contracts import BatchRequest
from kvdr.sync.model import PlanItem

LAST_REPORT_KEY = "sync/last-report.json"
LAST_DRY_RUN_KEY = "sync/last-dry-run.json"


def plans_prefix(run_id: str, target: str | None = None) -> str:
    return f"plans/{run_id}/" + (f"{target}/" if target else "")


def batch_key(run_id: str, target: str, n: int) -> str:
    return f"{plans_prefix(run_id, target)}batch-{n:05d}.json"


def renewal_inputs_key(run_id: str, target: str) -> str:
    """What a pair's renewal step aligns and each vault's ledger, taken by the pair's plan from
    the inventories it listed (:class:`kvdr.renewal.align.RenewalInputs`)."""
    return f"{plans_prefix(run_id, target)}renewal-inputs.json"


def rotation_inputs_key(run_id: str) -> str:
    """What the rotation scan at the end of a full sync needs of the primary's listing, kept by
    the run's plans (:class:`kvdr.rotation.scan.ScanInputs`)."""
    return f"{plans_prefix(run_id)}rotation-inputs.json"


def missing_since_key(target: str) -> str:
    return f"sync/missing-since/{target}.json"


def load_batch(state: StateStore, request: BatchRequest) -> list[PlanItem] | None:
    raw = state.get_json(batch_key(request.run_id, request.target, request.batch))
    return None if raw is None else [PlanItem.from_dict(i) for i in raw]
