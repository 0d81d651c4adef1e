"""Emulated-vault configurations: the document validates, and its TOML loads back equal."""

from __future__ import annotations

from kvdr.config.loading import load_toml
from kvdr_cli.emulated import emulator_config, emulator_document, to_toml


def test_the_toml_of_an_emulator_document_loads_back_as_the_same_configuration(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    document = emulator_document(
        {"eastus": "https://127.0.0.1:8443/", "westus": "https://127.0.0.1:8444/"}, str(ca),
        vault_names={"eastus": "kv-east", "westus": "kv-west"},
        policies={"deletions": "mirror", "deletion_breaker_max_percent": 2.5})
    path = tmp_path / "kvdr.toml"
    path.write_text(to_toml(document))
    loaded = load_toml(path)
    assert loaded == emulator_config(
        {"eastus": "https://127.0.0.1:8443/", "westus": "https://127.0.0.1:8444/"}, str(ca),
        vault_names={"eastus": "kv-east", "westus": "kv-west"},
        policies={"deletions": "mirror", "deletion_breaker_max_percent": 2.5})
    assert loaded.region("eastus").vault_name == "kv-east"
    assert loaded.topology.initial_primary == "eastus"
    assert loaded.policies.deletion_breaker_max_percent == 2.5
