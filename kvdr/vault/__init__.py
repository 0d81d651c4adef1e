"""Vault access: paced, counted SDK sessions and probe sessions, credentials, inventories, link
tags and keyed fingerprints."""
