"""Suite 5 (issue 13): bad input, property-based, the ``kvdr.toml`` half (the HTTP half is
``test_bad_input_http.py``). Hypothesis writes generated ``kvdr.toml`` documents — near-valid
mutations of valid samples, a known key of the schema in a random table with a generated value,
arbitrary JSON as TOML, arbitrary text, valid documents cut short — and gives them to the
configuration loader and to ``kvdr status --config``.

Properties: a generated configuration raises nothing but ``ConfigError`` with a code from
``kvdr.error_codes``; on the command line it exits 2 with one line on stderr, no traceback.

Sizes (tests/resilience/conftest.py): 50 documents, derandomized, in ``make test`` (a fifth of
that through the command line, a process each); ``KVDR_RESILIENCE_SIZE=large`` tries 1,000.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from resilience.bad_input_support import CODES, JSON, TRIED, mutated, report_tried

from kvdr.config.loading import load_toml
from kvdr.config.validate import TOML_SECTIONS
from kvdr.errors import ConfigError
from support.config_samples import VALID_TOML


@pytest.fixture(scope="module", autouse=True)
def report_inputs() -> Iterator[None]:
    started = time.monotonic()
    yield
    report_tried("bad input (kvdr.toml)", started)


# -- kvdr.toml ------------------------------------------------------------------------------

def _full_toml_sample() -> dict[str, Any]:
    """VALID_TOML with every section of the schema filled with a plausible value."""
    doc = tomllib.loads(VALID_TOML)
    doc["task_hub"] = "kvdr"
    doc["topology"]["local_region"] = "westus"
    doc["policies"] = {"deletions": "mirror", "deletion_grace_period": "7d",
                       "deletion_breaker_max_items": 50, "deletion_breaker_max_percent": 10,
                       "keys": "backup", "conflicts": "report", "soft_deleted_target": "recover",
                       "approval": "required"}
    doc["pacing"] = {"writes_per_10s": 250, "reads_per_10s": 3000, "key_creates_per_10s": 15,
                     "max_parallel": 4, "batch_size": 50}
    doc["objectives"] = {"rpo_seconds": 300, "rto_seconds": 900}
    doc["schedules"] = {"full_sync": "0 */15 * * * *", "drill": "0 0 3 1 * *"}
    doc["rotation"] = {"queue": "kvdr-rotation", "connection": "KvdrRotationQueue"}
    return doc


TOML_SAMPLES = [tomllib.loads(VALID_TOML), _full_toml_sample()]
TOML_KEYS = st.sampled_from([*TOML_SECTIONS, "task_hub", "regions", "tls",
                             *{k for keys in TOML_SECTIONS.values() for k in keys},
                             "vault_url", "resource_id", "geography"])


def _toml_key(key: str) -> str:
    return json.dumps(key)  # a quoted key (JSON escapes are TOML escapes)


def _toml_value(value: Any) -> str:
    if value is None:
        return '""'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # inf, -inf are TOML too
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return json.dumps(value)


def to_toml(doc: Any) -> str:
    """A generated document as TOML: top-level keys, every nested table inline."""
    if not isinstance(doc, dict):
        return f"value = {_toml_value(doc)}\n"
    return "".join(f"{_toml_key(str(k))} = {_toml_value(v)}\n" for k, v in doc.items())


@st.composite
def with_schema_key(draw: st.DrawFn, doc: Any) -> Any:
    """A known key of the schema, in a random table, with a generated value."""
    if isinstance(doc, dict):
        table = draw(st.sampled_from(sorted(doc))) if doc and draw(st.booleans()) else None
        target = doc[table] if table is not None and isinstance(doc[table], dict) else doc
        target[draw(TOML_KEYS)] = draw(JSON)
    return doc


TOML_DOCUMENTS = st.one_of(
    st.sampled_from(TOML_SAMPLES).flatmap(mutated).map(to_toml),
    st.sampled_from(TOML_SAMPLES).map(copy.deepcopy).flatmap(with_schema_key).map(to_toml),
    JSON.map(to_toml),
    st.text(max_size=300),
    st.sampled_from(TOML_SAMPLES).map(to_toml).flatmap(
        lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut])),
)


@pytest.mark.slow
def test_a_generated_kvdr_toml_raises_nothing_but_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "kvdr.toml"

    @given(document=TOML_DOCUMENTS)
    @example(document="[vaults]\neast = 1\n")
    @example(document="x = 1e400\n")
    def run(document: str) -> None:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
        TRIED["kvdr.toml (load_toml)"] += 1
        try:
            load_toml(path)
        except ConfigError as exc:
            assert exc.code in CODES and str(exc), exc.code

    run()


@pytest.mark.slow
def test_kvdr_status_with_a_bad_config_exits_2_in_one_line(tmp_path: Path) -> None:
    """Through the command line (a process per document: fewer of them)."""
    path = tmp_path / "kvdr.toml"
    seen: list[int] = []

    @given(document=TOML_DOCUMENTS)
    def run(document: str) -> None:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
        try:
            load_toml(path)
            return  # a document the loader takes is not bad input here
        except ConfigError:
            pass
        done = subprocess.run([sys.executable, "-m", "kvdr_cli", "status", "--config", str(path)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
        seen.append(done.returncode)
        TRIED["kvdr status --config"] += 1
        assert "Traceback" not in done.stderr + done.stdout, done.stderr[-500:]
        assert done.returncode == 2, (done.returncode, done.stderr[-500:])
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr[-500:]

    settings(max_examples=max(5, settings.default.max_examples // 5))(run)()
    assert seen
