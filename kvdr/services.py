"""The app's services: the process context of activities and triggers — configuration,
credential, state store, fingerprint key and the cached vault sessions. (Not the durable engine:
that is ``engine.runtime``.)

In Azure the runtime is built once per worker process from the app settings, lazily, the first
time an activity or trigger asks for it (never at import time: the host imports every module to
index the functions before the settings are guaranteed to be complete). Locally — the CLI, the
tests, the demo — the caller builds one with :func:`local_runtime` (or by hand) and installs it
with :func:`configure` before the engine runs anything.

The fingerprint key is held here as bytes and nowhere else: it never enters a ``Config``, an
orchestration input, a log line or a report.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from kvdr.config.loading import load_app_settings, load_toml
from kvdr.config.schema import FINGERPRINT_KEY_SETTING, Config
from kvdr.state.blob import state_store_from_env
from kvdr.state.store import FileStateStore, StateStore
from kvdr.telemetry import configure_telemetry
from kvdr.vault.credentials import credential_for
from kvdr.vault.fingerprint import key_from_env
from kvdr.vault.pacing import PacerRegistry
from kvdr.vault.pipeline import default_pacers
from kvdr.vault.session import PROBE_BACKOFF, PROBE_TIMEOUTS, VaultSession


@dataclass
class Runtime:
    """Everything an activity needs besides its input. Sessions are opened on first use and
    cached per region; they share one :class:`PacerRegistry`, so every activity of the process
    paces against the same per-vault token buckets."""

    config: Config
    credential: TokenCredential
    state: StateStore
    fingerprint_key: bytes = field(repr=False)
    pacers: PacerRegistry | None = None
    _sessions: dict[str, VaultSession] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _suspects: frozenset[str] = field(default=frozenset(), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.pacers is None:
            self.pacers = default_pacers(self.config.pacing)

    def session(self, region: str) -> VaultSession:
        """The cached session of ``region``'s vault (thread-safe)."""
        with self._lock:
            found = self._sessions.get(region)
            if found is None:
                found = self.open_session(region)
                self._sessions[region] = found
            return found

    def open_session(self, region: str, *, probe: bool = False) -> VaultSession:
        """A new session of ``region``'s vault sharing this runtime's pacers (its ``calls``
        count only what the caller does with it). The caller closes it. A ``probe`` session
        gives up within seconds (short retries and timeouts): a failover must learn quickly
        that a vault is down, not spend the RTO on 31 s of backoff per read."""
        self.config.region(region)  # KeyError naming the configured regions
        if probe:
            return VaultSession(self.config, region, credential=self.credential,
                                pacers=self.pacers, retry_backoff=PROBE_BACKOFF,
                                timeouts=PROBE_TIMEOUTS)
        return VaultSession(self.config, region, credential=self.credential, pacers=self.pacers)

    def open_probe(self, region: str) -> VaultSession:
        """``open_session(region, probe=True)``: what every topology read uses
        (:mod:`kvdr.topology.reading`)."""
        return self.open_session(region, probe=True)

    def suspect(self, regions: Iterable[str]) -> None:
        """Remember the vaults a topology read got no record from (down, or not bootstrapped
        yet), replacing what was remembered: later work in this process probes them before
        committing to full retries. Only a hint — a process that never saw the read (another
        instance in Azure) just takes the slow path."""
        self._suspects = frozenset(regions)

    def is_suspect(self, region: str) -> bool:
        return region in self._suspects

    def sessions(self) -> dict[str, VaultSession]:
        """A cached session for every configured region."""
        return {name: self.session(name) for name in self.config.region_names}

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def configure(runtime: Runtime | None) -> Runtime | None:
    """Install ``runtime`` for this process (None clears it); returns the one it replaced."""
    global _runtime
    with _runtime_lock:
        previous, _runtime = _runtime, runtime
    return previous


def get_runtime() -> Runtime:
    """The installed runtime, else one built once from ``os.environ`` (the app settings)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = runtime_from_env(os.environ)
        return _runtime


def runtime_from_env(env: Mapping[str, str]) -> Runtime:
    """The runtime of a function app: ``KVDR_*`` settings, ``DefaultAzureCredential`` (or the
    emulator's local token), the ``kvdr-state`` blob container and ``KVDR_FINGERPRINT_KEY``;
    Azure Monitor telemetry is configured on the way (once per process)."""
    configure_telemetry(env)  # here, not at import: the host imports before settings are final
    config = load_app_settings(env)
    return Runtime(config=config, credential=credential_for(config),
                   state=state_store_from_env(env), fingerprint_key=key_from_env(env))


def local_fingerprint_key(env: Mapping[str, str]) -> bytes:
    """``KVDR_FINGERPRINT_KEY`` when set (validated), else a random key for this process:
    fingerprints are only ever compared inside one activity, so a per-process key is sound."""
    if (env.get(FINGERPRINT_KEY_SETTING) or "").strip():
        return key_from_env(env)
    return secrets.token_hex(32).encode("ascii")


def local_runtime(config: Config | str | os.PathLike[str], state_dir: str | os.PathLike[str],
                  *, credential: TokenCredential | None = None,
                  env: Mapping[str, str] | None = None) -> Runtime:
    """The runtime of an operator's machine (CLI, tests, demo): ``kvdr.toml`` (or a Config),
    a :class:`~kvdr.state.store.FileStateStore` under ``state_dir/state`` and the fingerprint key
    from the environment or random."""
    env = os.environ if env is None else env
    cfg = config if isinstance(config, Config) else load_toml(config)
    root = Path(state_dir) / "state"
    root.mkdir(parents=True, exist_ok=True)
    return Runtime(config=cfg, credential=credential or credential_for(cfg),
                   state=FileStateStore(root), fingerprint_key=local_fingerprint_key(env))


def describe(runtime: Runtime) -> dict[str, Any]:
    """What the runtime points at (for logs and `kvdr status`): no key, no token."""
    return {"regions": {r.name: r.vault_url for r in runtime.config.regions},
            "state": repr(runtime.state)}
