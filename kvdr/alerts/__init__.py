"""Azure Monitor alerts: the common schema, what an alert's context says, and whether it should
start a failover."""
