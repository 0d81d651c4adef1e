"""What ships to Azure: ``.funcignore`` leaves out everything that is not the function app
(Node's Azurite, the Python project's metadata, tests, the stand-ins), and the app imports
without the stand-ins it leaves out."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the function app: what the Functions host loads and what it imports
APP = {"function_app.py", "host.json", "requirements.txt", "kvdr", "triggers", "orchestrators",
       "activities"}
MUST_EXCLUDE = {"node_modules", "package.json", "package-lock.json", "pyproject.toml",
                "kvdr.egg-info", "some.egg-info", ".venv", "tests", "emulator", "engine",
                "kvdr_cli", "infra", "bench", "docs", "local.settings.json", ".git"}


def _patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "keep .funcignore free of negations"
    return patterns


def _excluded(name: str, is_dir: bool, patterns: list[str]) -> bool:
    """gitignore's rule for a top-level entry: a pattern matches its name; one ending in ``/``
    matches directories only."""
    for pattern in patterns:
        if pattern.endswith("/") and not is_dir:
            continue
        if fnmatch.fnmatchcase(name, pattern.strip("/")):
            return True
    return False


def test_every_top_level_entry_outside_the_function_app_is_excluded() -> None:
    patterns = _patterns()
    shipped = {entry.name for entry in ROOT.iterdir()
               if not _excluded(entry.name, entry.is_dir(), patterns)}
    assert shipped - APP == set(), "add these to .funcignore or to the app"


@pytest.mark.parametrize("name", sorted(MUST_EXCLUDE))
def test_node_and_python_project_files_and_the_stand_ins_are_excluded(name: str) -> None:
    is_dir = "." not in name or name.endswith(".egg-info") or name in (".venv", ".git")
    assert _excluded(name, is_dir, _patterns())


@pytest.mark.parametrize("name", sorted(APP))
def test_the_function_app_is_shipped(name: str) -> None:
    assert (ROOT / name).exists()
    assert not _excluded(name, (ROOT / name).is_dir(), _patterns())


def test_bytecode_caches_are_excluded_at_every_level() -> None:
    assert _excluded("__pycache__", True, _patterns())


def test_function_app_imports_without_the_packages_funcignore_leaves_out() -> None:
    """The deployed app has no emulator/, engine/ or tests/: importing it must not need them."""
    script = textwrap.dedent("""
        import importlib.abc, sys
        LEFT_OUT = {"emulator", "engine", "tests", "bench", "kvdr_cli"}
        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in LEFT_OUT:
                    raise ImportError(f"{name} is not deployed")
                return None
        sys.meta_path.insert(0, Blocker())
        import function_app
        functions = function_app.app.get_functions()
        assert functions, "no function registered"
        print(len(functions))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 0
