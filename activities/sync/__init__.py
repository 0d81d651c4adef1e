"""The full-sync activities: read the topology, plan a pair, execute a batch, verify a pair,
save the report. Each may run twice (decision 5) and returns an envelope, never a value; the
requests and results are :mod:`kvdr.sync.contracts`.

:class:`SyncActivities` (:mod:`.activities`) holds the services it is handed
(:class:`activities.services.SyncServices`), one method per activity; the parts live by step
(:mod:`.plan`, :mod:`.batches`, :mod:`.verify`, the state store's keys in :mod:`.store`).

Plans never cross the orchestration boundary: the planner's executable items are written to the
state store as batches (``plans/{run_id}/{target}/batch-{n:05d}.json``) and the orchestrator
only learns how many there are. Each activity opens its own vault sessions (sharing the
process's pacers), so the calls it reports are exactly the calls it made.

Fencing (decision 1): a batch reads the target vault's topology record once, before any write;
when its epoch is above the epoch the batch was planned at, a failover or failback happened in
between and the batch writes nothing (every item fails with ``topology.fenced``).
"""

from activities.sync.activities import SyncActivities

__all__ = ["SyncActivities"]
