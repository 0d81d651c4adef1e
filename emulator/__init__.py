"""A local HTTPS Azure Key Vault emulator that Microsoft's Python SDK clients work against.

Start it with ``python -m emulator serve …`` or in-process with :mod:`emulator.testing`.
"""

from emulator.server import EmulatorServer, VaultSpec

__all__ = ["EmulatorServer", "VaultSpec"]
