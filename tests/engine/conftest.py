"""Fixtures for the engine tests: the sample app, an engine on a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine, ManualClock
from support import sample_app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Iterator[Engine]:
    sample_app.CALLS.clear()
    with Engine(sample_app.app, tmp_path / "state", clock=clock) as running:
        yield running
