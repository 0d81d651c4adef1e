"""What each activity family is handed: its typed dependencies, and the vault sessions one
activity opens and closes.

The families (:class:`~activities.sync.SyncActivities`, :class:`~activities.failover.
FailoverActivities`, :class:`~activities.drill.DrillActivities`) hold these, as Temporal's
activity classes hold their clients; only the composition root (:mod:`activities.functions`)
builds them from the process's services. The app's :class:`kvdr.services.Runtime` satisfies
both protocols; a test hands in one of its own, pointed at the emulator.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Protocol

from kvdr.config.schema import Config
from kvdr.state.store import StateStore
from kvdr.vault.session import VaultSession


class ActivityServices(Protocol):
    """The configuration, the state store, and fresh vault sessions (a ``probe`` one gives up
    within seconds on a vault that does not answer: :meth:`kvdr.services.Runtime.open_session`).
    What the failover and drill activities use."""

    @property
    def config(self) -> Config: ...

    @property
    def state(self) -> StateStore: ...

    def open_session(self, region: str, *, probe: bool = False) -> VaultSession: ...


class SyncServices(ActivityServices, Protocol):
    """The full sync's: the fingerprint key (compared inside a batch, never stored) and the
    process's hint of the vaults its last topology read got no record from."""

    @property
    def fingerprint_key(self) -> bytes: ...

    def suspect(self, regions: Iterable[str]) -> None: ...

    def is_suspect(self, region: str) -> bool: ...


@contextmanager
def open_sessions(services: ActivityServices, regions: Iterable[str], *,
                  probe: bool | Collection[str] = False) -> Iterator[dict[str, VaultSession]]:
    """A fresh session per region, closed on the way out, so the calls an activity reports are
    exactly its own. ``probe``: every session a probe one (True), or those of the regions
    named."""
    with ExitStack() as stack:
        opened: dict[str, VaultSession] = {}
        for region in regions:
            is_probe = probe if isinstance(probe, bool) else region in probe
            session = services.open_session(region, probe=is_probe)
            stack.callback(session.close)
            opened[region] = session
        yield opened


def calls_of(sessions: Mapping[str, VaultSession]) -> dict[str, int]:
    """The calls each session made, by region."""
    return {region: session.calls for region, session in sessions.items()}
