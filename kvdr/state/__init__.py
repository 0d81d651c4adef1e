"""The state store: small JSON documents that outlive one activity."""
