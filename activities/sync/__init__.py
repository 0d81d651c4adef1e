"""The full-sync activities: read the topology, plan a pair, execute a batch, verify a pair,
save the report. Each may run twice (decision 5) and returns an envelope, never a value; the
requests and results are :mod:`kvdr.sync.contracts`.

Plans never cross the orchestration boundary: the planner's executable items are written to the
state store as batches (``plans/{run_id}/{target}/batch-{n:05d}.json``, :mod:`.store`) and the
orchestrator only learns how many there are. Each activity opens its own vault sessions
(sharing the process's pacers, :mod:`.sessions`), so the calls it reports are exactly the calls
it made.

Fencing (decision 1): a batch reads the target vault's topology record once, before any write;
when its epoch is above the epoch the batch was planned at, a failover or failback happened in
between and the batch writes nothing (every item fails with ``topology.fenced``).

Importing the package imports every module that registers an activity on ``bp``.
"""

from activities.sync import batches, plan, report, topology, verify

__all__ = ["batches", "plan", "report", "topology", "verify"]
