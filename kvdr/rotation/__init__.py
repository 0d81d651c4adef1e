"""The rotation signal (decision 9): one "rotation due" message per item per expiry, published
only from the current primary to a storage queue that customers' rotation jobs consume
(``message``, ``publisher``), remembered in reserved per-item markers every vault holds, so that
a failover does not announce an expiry twice (``markers``); fed by the event path's
NearExpiry/Expired events and by a scan at the end of every full sync (``announce``, ``scan``).
See docs/rotation.md."""
