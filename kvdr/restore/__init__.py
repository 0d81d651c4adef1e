"""Point-in-time restore and undelete (issue 12): scope, plan, per-item execution, report."""
