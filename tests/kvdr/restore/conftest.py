"""The restore tests' vaults: the session emulator's east (the primary), west and europe, a
name prefix no other test uses (the plan's scope), and the moment TIME between the good state
and the bad changes, kept apart by advancing the emulator's clock (versions are dated to the
second)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from emulator.testing import Emulator
from kvdr.restore.execute import restore_item
from kvdr.restore.model import RestoreItem, RestorePlan, RestoreScope
from kvdr.restore.outcome import RestoreOutcome
from kvdr.restore.plan import build_plan
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession
from support.vaults import FINGERPRINT_KEY


@dataclass
class RestoreEnv:
    emu: Emulator
    east: VaultSession
    others: dict[str, VaultSession]
    prefix: str

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    @property
    def scope(self) -> RestoreScope:
        return RestoreScope(names=(f"{self.prefix}-*",))

    def moment(self) -> datetime:
        """TIME: a moment two seconds clear of the writes before and after it."""
        self.emu.advance(2)
        at = self.emu.clock.now()
        self.emu.advance(2)
        return at

    def plan(self, as_of: datetime, **kw) -> RestorePlan:
        return build_plan(self.east, self.others, as_of=as_of, scope=kw.pop("scope", self.scope),
                          epoch=1, **kw)

    def run(self, item: RestoreItem, **kw) -> RestoreOutcome:
        self.emu.advance(2)  # a restored version is never of the same second as the last one
        return restore_item(self.east, self.others, item, run_id="test-run",
                            fingerprint_key=FINGERPRINT_KEY, **kw)

    def item(self, plan: RestorePlan, name: str) -> RestoreItem:
        found = [i for i in plan.items if i.name == self.name(name)]
        assert len(found) == 1, plan.to_dict()
        return found[0]

    def versions(self, kind: ItemKind, name: str) -> int:
        return len(self.east.version_history(kind, self.name(name)) or [])


@pytest.fixture
def env(kv_emulator: Emulator, sessions: dict[str, VaultSession],
        unique: Callable[[str], str]) -> RestoreEnv:
    return RestoreEnv(kv_emulator, sessions["east"],
                      {"west": sessions["west"], "europe": sessions["europe"]}, unique("rs"))
