"""kvdr: disaster recovery for Azure Key Vault (the domain library; no Functions types here)."""

__version__ = "0.1.0"
