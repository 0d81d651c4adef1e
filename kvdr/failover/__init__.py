"""Failover and failback: requests, the pure planner and the report."""
