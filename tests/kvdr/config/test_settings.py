"""The canonical settings list drives the loaders and the configuration reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kvdr
from kvdr.config.loading import load_app_settings
from kvdr.config.settings import (
    CLI_VARIABLES,
    README_BEGIN,
    README_END,
    SETTINGS,
    SETTINGS_BY_NAME,
    render_markdown,
    render_readme_table,
)
from kvdr.config.validate import TOML_SECTIONS
from kvdr.errors import ConfigError

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
KVDR_DIR = Path(kvdr.__file__).resolve().parent   # the whole kvdr package


def test_every_setting_is_a_unique_kvdr_name_with_a_description():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for spec in SETTINGS:
        assert re.fullmatch(r"KVDR_[A-Z0-9_]+", spec.name), spec.name
        assert spec.description and spec.description.endswith((".", ")")), spec.name
        # unset means something for these two: no CA bundle; rotation publishing off
        assert spec.required or spec.default is not None or spec.name in (
            "KVDR_TLS_CA_BUNDLE", "KVDR_ROTATION_QUEUE")


def test_configuration_reference_lists_every_setting_and_toml_key():
    text = DOC.read_text()
    for spec in SETTINGS:
        assert f"`{spec.name}`" in text, spec.name
        if spec.toml_key:
            assert f"`{spec.toml_key}`" in text, spec.toml_key


def test_configuration_reference_is_generated_from_the_list():
    assert DOC.read_text() == render_markdown(), (
        "docs/configuration.md is stale: run "
        "`python -m kvdr.config.settings > docs/configuration.md`")


def test_every_kvdr_name_in_the_library_is_in_the_canonical_list():
    mentioned = set()
    for path in KVDR_DIR.rglob("*.py"):
        mentioned |= set(re.findall(r"\bKVDR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    unknown = {m for m in mentioned if m not in SETTINGS_BY_NAME and m not in CLI_VARIABLES}
    assert unknown <= {"KVDR_REGION"}, unknown  # prose only ("KVDR_REGION_<n>_*")


def test_every_toml_key_maps_to_a_loader_key():
    toml_keys = {s.toml_key for s in SETTINGS if s.toml_key and s.toml_key != "regions.<name>"}
    known = {f"{section}.{key}" for section, keys in TOML_SECTIONS.items()
             for key in keys} | {"task_hub"}
    assert toml_keys == known


def test_the_readme_lists_every_setting_from_the_canonical_list():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    start, end = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    assert readme[start:end] == render_readme_table(), (
        "README settings table is stale: paste kvdr.config.settings.render_readme_table()")


def test_a_command_line_variable_in_the_environment_is_not_an_unknown_app_setting(
        app_settings) -> None:
    # KVDR_DEBUG=1 in an operator's shell must not make `kvdr host` refuse its app settings
    assert "KVDR_DEBUG" in CLI_VARIABLES
    load_app_settings({**app_settings, "KVDR_DEBUG": "1"})
    with pytest.raises(ConfigError) as err:
        load_app_settings({**app_settings, "KVDR_DEBGU": "1"})
    assert err.value.code == "config.unknown"
