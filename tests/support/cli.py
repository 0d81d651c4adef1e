"""Shared by the CLI tests: two emulated regions, their kvdr.toml, and `kvdr` run the way an
operator runs it (a subprocess with this checkout on its path and no KVDR_* settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from emulator.server import VaultSpec
from emulator.testing import Emulator
from kvdr_cli.emulated import emulator_document, to_toml

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ("east", "west")


def two_regions() -> Iterator[Emulator]:
    """east and west, both geography us. Use as ``yield from`` in a fixture."""
    with Emulator([VaultSpec(name, geography="us") for name in REGIONS]) as emu:
        yield emu


def write_toml(emu: Emulator, path: Path) -> Path:
    """The kvdr.toml of the emulator's vaults (region name = vault name; east is primary)."""
    path.write_text(to_toml(emulator_document(
        {name: emu.url(name) for name in REGIONS}, emu.ca_cert)))
    return path


def run_kvdr(*args: str, cwd: Path, stdin: int | None = subprocess.DEVNULL,
             timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m kvdr_cli ARGS``; stdin is not a terminal unless the caller says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "kvdr_cli", *args], cwd=cwd, env=env,
                          stdin=stdin, capture_output=True, text=True, timeout=timeout)
