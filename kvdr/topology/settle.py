"""Settling a split brain: two runbooks in two regions switched at the same epoch (Key Vault has
no compare-and-swap, so both writes land). Whoever finds rival records — the switch's settle
step, after a short wait, and any later :func:`kvdr.topology.store.current_topology` — reads
every reachable vault, lets the one rule (:func:`kvdr.topology.record.precedence`) pick the
winner, and writes the winner's record wherever another is held. Every settler picks the same
winner from the same records, so concurrent settlers write the same record (idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from kvdr.topology.reading import read_records
from kvdr.topology.record import TopologyRecord, TopologyView
from kvdr.topology.store import write_winner
from kvdr.vault.session import VaultSession

__all__ = ["DEFAULT_SETTLE_SECONDS", "MAX_SETTLE_SECONDS", "Settled", "settle_records"]

log = logging.getLogger(__name__)

# How long a switch waits before re-reading every vault: longer than a rival's check-then-write
# of one record (one Key Vault call), so a runbook that passed its check before our fence
# landed has written by then; short, because the winner's hand-over waits for it.
DEFAULT_SETTLE_SECONDS = 1.0
MAX_SETTLE_SECONDS = 30.0


@dataclass(frozen=True)
class Settled:
    view: TopologyView                      # what was read, before the rewrite
    rewritten: tuple[str, ...] = ()         # vaults that now hold the winner instead
    unreached: Mapping[str, str] = field(default_factory=dict)  # region -> error code

    @property
    def winner(self) -> TopologyRecord:
        return self.view.current


def settle_records(sessions: Mapping[str, VaultSession], *, rivals_only: bool = False
                   ) -> Settled | None:
    """Read every given vault, pick the winner under the rule and write it to each reachable
    vault that holds another record (``rivals_only``: only those holding a rival at the top
    epoch; a stale or empty vault is left to the next switch). None when no vault holds a
    record that counts."""
    reads = read_records(sessions)
    view = reads.view()
    if view is None:
        return None
    rewritten, unreached = write_winner(sessions, reads, view.current,
                                        rivals_only=rivals_only)
    winner = view.current
    if view.split_brain:
        log.warning("topology: split brain at epoch %d settled for %s (runbook %s); rivals "
                    "%s", winner.epoch, winner.primary, winner.runbook_id or "?",
                    ", ".join(f"{r.primary} (runbook {r.runbook_id or '?'})"
                              for r in view.rivals))
    return Settled(view, rewritten, unreached)
