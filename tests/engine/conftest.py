"""Fixtures for the engine tests: the sample app, an engine on a manual clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import sample_app  # noqa: E402

from engine import Engine, ManualClock  # noqa: E402


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Iterator[Engine]:
    sample_app.CALLS.clear()
    with Engine(sample_app.app, tmp_path / "state", clock=clock) as running:
        yield running
