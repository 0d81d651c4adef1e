"""The orchestrators Blueprint. It imports nothing of its package, so every function module can
import ``bp`` from here without a cycle through the package's ``__init__``."""

import azure.durable_functions as df

bp = df.Blueprint()
