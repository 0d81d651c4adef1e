"""The resilience suites' size: ``fast`` (the default, in ``make test``) or ``large``
(``KVDR_RESILIENCE_SIZE=large``), and the Hypothesis profiles the property-based suites use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

SIZE = os.environ.get("KVDR_RESILIENCE_SIZE", "fast").strip().lower() or "fast"
if SIZE not in ("fast", "large"):
    raise ValueError(f"KVDR_RESILIENCE_SIZE={SIZE!r}: use fast or large")

# derandomized: the fast size tries the same inputs on every run (CI stability); the large
# size explores (a fresh random seed each run) and tries 20x as many
_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture,
                                     HealthCheck.filter_too_much]}
settings.register_profile("kvdr-resilience-fast", max_examples=50, derandomize=True, **_COMMON)
settings.register_profile("kvdr-resilience-large", max_examples=1000, **_COMMON)
settings.load_profile(f"kvdr-resilience-{SIZE}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The large size runs for minutes per test: pyproject's 300 s default timeout (right for
    ``make test``) would stop it midway, so a large run gives each test without its own
    timeout two hours."""
    if SIZE != "large":
        return
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(7200))
