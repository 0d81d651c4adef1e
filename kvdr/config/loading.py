"""The configuration loaders: ``kvdr.toml`` on an operator's machine, the ``KVDR_*`` app
settings in Azure, and a dict such as :meth:`Config.to_dict` returns. All three feed the same
validation (:mod:`kvdr.config.validate`), and every problem is a
:class:`~kvdr.errors.ConfigError` naming the setting as the user wrote it (the TOML dotted key
or the app setting name). Nothing here reads the environment by itself or touches the network;
the only I/O is reading the TOML file and checking that a CA bundle file exists.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kvdr.config.schema import FINGERPRINT_KEY_SETTING, MIN_FINGERPRINT_KEY_LENGTH, Config
from kvdr.config.settings import CLI_VARIABLES, SETTINGS, SETTINGS_BY_NAME
from kvdr.config.validate import AppSettingLabels, suggest, validate_document
from kvdr.errors import ConfigError

APP_SETTING_PREFIX = "KVDR_"


def load_toml(path: str | os.PathLike[str]) -> Config:
    """Read and validate ``kvdr.toml``. Relative ``tls.ca_bundle`` paths are resolved against
    the file's folder."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(file), "configuration file not found; create it or pass --config "
                          "with the right path", code="config.missing") from None
    except IsADirectoryError:
        raise ConfigError(str(file), "is a directory, not a configuration file; pass --config "
                          "with the path of the kvdr.toml itself") from None
    except OSError as exc:  # permissions, a device, an I/O error: say which, never a traceback
        raise ConfigError(str(file), f"cannot be read ({exc.strerror or type(exc).__name__}); "
                          "check the path and its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition: point at the bad byte
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(str(file), f"not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
                          "save the file as UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), f"not valid TOML ({exc})") from None
    return validate_document(document, base_dir=file.resolve().parent, check_files=True)


def load_app_settings(env: Mapping[str, str], *, strict: bool = True) -> Config:
    """Read and validate the ``KVDR_*`` app settings from ``env`` (pass ``os.environ`` in
    Azure). Empty values count as unset. With ``strict`` (the default) an unknown ``KVDR_*``
    name is an error, so a misspelt setting never silently falls back to its default."""
    values = {k: v for k, v in env.items()
              if k.startswith(APP_SETTING_PREFIX) and isinstance(v, str) and v.strip()}
    if strict:
        for name in sorted(values):
            if name not in SETTINGS_BY_NAME and name not in CLI_VARIABLES:
                raise ConfigError(name, "unknown kvdr setting" + suggest(name, SETTINGS_BY_NAME)
                                  + "; remove it or fix its name", code="config.unknown")
    for spec in SETTINGS:
        if spec.required and spec.name not in values:
            raise ConfigError(spec.name, f"required app setting is missing ({spec.description})",
                              code="config.missing")

    key = values[FINGERPRINT_KEY_SETTING]
    if len(key) < MIN_FINGERPRINT_KEY_LENGTH:
        raise ConfigError(FINGERPRINT_KEY_SETTING,
                          f"must be at least {MIN_FINGERPRINT_KEY_LENGTH} characters; generate a "
                          "random value (e.g. `openssl rand -hex 32`)")

    regions_text = values["KVDR_REGIONS"]
    try:
        regions = json.loads(regions_text)
    except json.JSONDecodeError as exc:
        raise ConfigError("KVDR_REGIONS", f"not valid JSON ({exc.msg} at position {exc.pos}); "
                          'expected {"eastus": {"vault_url": …, "resource_id": …, '
                          '"geography": …}, …}') from None

    document: dict[str, Any] = {"regions": regions}
    for spec in SETTINGS:
        if spec.name == "KVDR_REGIONS" or not spec.toml_key or spec.name not in values:
            continue
        section, _, key_name = spec.toml_key.rpartition(".")
        target = document.setdefault(section, {}) if section else document
        target[key_name] = values[spec.name]
    return validate_document(document, base_dir=None, check_files=True,
                             label=AppSettingLabels())


def load_dict(data: Mapping[str, Any]) -> Config:
    """Validate a TOML-shaped dict (the inverse of :meth:`Config.to_dict`; no file checks)."""
    return validate_document(data, base_dir=None, check_files=False)
