"""What the event path needs from the process it runs in (the app's process context satisfies
it; tests and benchmarks may hand in their own)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only
    from kvdr.config.schema import Config
    from kvdr.state.store import StateStore
    from kvdr.vault.session import VaultSession


class EventRuntime(Protocol):
    """Configuration, the fingerprint key, the state store for the counters (None: no
    counters), a cached vault session per region and probe sessions for the topology."""

    @property
    def config(self) -> Config: ...

    @property
    def fingerprint_key(self) -> bytes: ...

    @property
    def state(self) -> StateStore | None: ...

    def session(self, region: str) -> VaultSession: ...

    def open_probe(self, region: str) -> VaultSession:
        """A new session that gives up within seconds (the topology read); the caller closes
        it."""
        ...
