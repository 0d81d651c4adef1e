"""The event path: Event Grid hints turned into one-item replications, and its counters."""
