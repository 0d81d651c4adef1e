"""Fixtures every test folder can use, so a test file keeps its fixtures wherever it lives.
Helpers that several test folders need live in tests/support/ (imported as ``support.<module>``)."""

import pytest

# before the plugins below are imported: the helpers' own asserts explain their failures too
pytest.register_assert_rewrite("support")

pytest_plugins = [
    # the Key Vault emulator's fixtures: kv_emulator (session) and kv_emulator_factory
    "emulator.testing",
    # valid_toml, write_toml, resource_id, other_sub, now, app_settings
    "support.config_samples",
    # unique, config (the session emulator's vaults), make_sessions, sessions
    "support.vaults",
    # sync_env, sync_env_factory: the real function app on the engine against fresh vaults
    "support.sync",
    # events: the custom events sent to the OpenTelemetry logger provider
    "support.telemetry",
    # azurite (blob) and azurite_queue: a real Azurite, started once per session on first use
    "support.azurite",
]
