"""Configurations for emulated vaults: the demo, `kvdr.toml` files for local runs, the tests
and the benchmarks all describe the emulator's vaults the same way.

Regions map to emulator URLs; each region's resource id names the emulator vault (Event Grid
events carry the vault name, and kvdr maps them to regions through it) in a placeholder
subscription; the emulator's CA is the TLS bundle (honoured for loopback URLs only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kvdr.config.loading import load_dict
from kvdr.config.schema import Config

EMULATOR_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def emulator_document(vault_urls: Mapping[str, str], ca_cert: str, *,
                      vault_names: Mapping[str, str] | None = None,
                      geographies: Mapping[str, str] | str = "us",
                      primary: str | None = None, resource_group: str = "rg-kvdr",
                      **sections: Any) -> dict[str, Any]:
    """The `kvdr.toml` document for ``{region: vault URL}``; the vault name defaults to the
    region name, the primary to the first region; ``sections`` add or replace whole tables."""
    names = vault_names or {}
    regions = {
        region: {
            "vault_url": url,
            "resource_id": f"/subscriptions/{EMULATOR_SUBSCRIPTION}/resourceGroups/"
                           f"{resource_group}/providers/Microsoft.KeyVault/vaults/"
                           f"{names.get(region, region)}",
            "geography": geographies if isinstance(geographies, str) else geographies[region],
        } for region, url in vault_urls.items()}
    return {"regions": regions,
            "topology": {"initial_primary": primary or next(iter(vault_urls))},
            "tls": {"ca_bundle": ca_cert}, **sections}


def emulator_config(vault_urls: Mapping[str, str], ca_cert: str, **kwargs: Any) -> Config:
    """:func:`emulator_document`, validated as a :class:`~kvdr.config.schema.Config`."""
    return load_dict(emulator_document(vault_urls, ca_cert, **kwargs))


def to_toml(document: Mapping[str, Any]) -> str:
    """TOML for a configuration document (tables of scalars, nested tables as dotted
    headers); strings are written as JSON strings, which are valid TOML basic strings."""
    lines: list[str] = []

    def table(prefix: str, data: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_scalar(value)}")
        if prefix and scalars:
            lines.append("")
        for key, value in data.items():
            if isinstance(value, Mapping):
                table(f"{prefix}.{key}" if prefix else key, value)

    table("", document)
    return "\n".join(lines).rstrip() + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} to kvdr.toml")
