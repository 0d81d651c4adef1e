"""The DR drill, pure: its checks (``checks``), the preflight verdicts (``preflight``), how RPO and
RTO measurements are judged against the objectives (``measure``) and the report (``report``);
the Durable inputs and results are in ``contracts``. No I/O: the drill activities read the
vaults and call these functions.

A drill is non-disruptive. It never changes the topology record and never writes a user item;
it measures whether a failover *now* would meet the objectives:

* preflight — every vault reachable, a current primary, no split brain, no stale record;
* RPO per secondary — the changes the primary holds that the secondary does not (a read-only
  sync plan, list calls only) and the age of the oldest of them: what a failover now would lose;
* RTO per secondary — the time of the steps a failover runs against the vaults (read every
  topology record, write the reserved probe secret ``kvdr-drill-probe`` into the secondary and
  read it back: proof that it takes writes now).

The report carries names, counts and durations, never a value (decision 3).
"""
