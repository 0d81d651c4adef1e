"""Fixtures for the state stores: a ``store`` fixture parametrised over FileStateStore and
BlobStateStore (on the session's Azurite: ``azurite`` from :mod:`support.azurite`)."""

from __future__ import annotations

import pytest

from kvdr.state.store import FileStateStore


@pytest.fixture(params=["file", "blob"])
def store(request, tmp_path):
    """Each StateStore implementation, empty."""
    if request.param == "file":
        yield FileStateStore(tmp_path / "state")
        return
    blob = request.getfixturevalue("azurite").store()
    try:
        yield blob
    finally:
        blob.close()
