"""The vault sessions one full-sync activity opens, and closes when it is done."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from kvdr.services import Runtime
from kvdr.vault.session import VaultSession


@contextmanager
def open_sessions(runtime: Runtime, *regions: str, probe: bool = False
                  ) -> Iterator[list[VaultSession]]:
    """Fresh sessions; ``probe`` ones give up within seconds on a vault that does not answer
    (:meth:`Runtime.open_session`), as the failover's and the drill's reads do."""
    with ExitStack() as stack:
        opened = []
        for region in regions:
            session = runtime.open_session(region, probe=probe)
            stack.callback(session.close)
            opened.append(session)
        yield opened
