"""Shared fixtures. Helpers that several test folders need live in tests/support/."""
