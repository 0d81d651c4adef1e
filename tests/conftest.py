"""Shared fixtures. Helpers that several test folders need live in tests/support/."""

# the Key Vault emulator's fixtures: kv_emulator (session) and kv_emulator_factory
pytest_plugins = ["emulator.testing"]
