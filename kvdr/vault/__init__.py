"""Vault access: paced, counted SDK sessions, credentials, endpoints, inventories, link tags and
version history."""
