"""Shared pieces of the full-sync benchmarks: an in-process emulator, a Config and runtime for
it, the engine running the real function app, direct store seeding, and measurements.

Direct seeding (``seed_pair``) writes the emulator's in-memory store through its Python API
instead of the data-plane API: tens of thousands of SDK writes would dominate a benchmark that
measures something else. The copies in the target carry confirmed kvdr link tags exactly as
kvdr's copier writes them (origin region and version token, epoch, the copy's own version
token), so the first full sync finds every item in sync; each benchmark checks that it did.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator.server import VaultSpec  # noqa: E402
from emulator.store import Item, Version, new_version  # noqa: E402
from emulator.testing import Emulator  # noqa: E402
from emulator.throttle import ThrottleLimits  # noqa: E402
from kvdr.config.schema import Config  # noqa: E402
from kvdr.services import Runtime, configure, local_runtime  # noqa: E402
from kvdr.vault.links import LINK_TAG, LinkTag  # noqa: E402
from kvdr_cli.emulated import emulator_config  # noqa: E402


def config_for(emu: Emulator, regions: tuple[str, ...], **sections: Any) -> Config:
    return emulator_config({name: emu.url(name) for name in regions}, emu.ca_cert,
                           geographies={name: emu.vaults[name].geography for name in regions},
                           resource_group="rg-bench", **sections)


def config_for_urls(urls: dict[str, str], ca_cert: str, **sections: Any) -> Config:
    """A Config for emulator vaults by URL (region name = vault name, geography us)."""
    return emulator_config(urls, ca_cert, resource_group="rg-bench", **sections)


def seed_pair(emu: Emulator, count: int, *, source: str = "east", target: str | None = "west",
              prefix: str = "bench", epoch: int = 1) -> None:
    """``count`` secrets in ``source`` and, when ``target`` is given, their kvdr copies."""
    created = int(time.time()) - 3600
    src = emu.store(source)
    dst = emu.store(target) if target else None
    with src.lock:
        for i in range(count):
            name = f"{prefix}-{i:06d}"
            attrs = {"enabled": True, "created": created, "updated": created}
            item = Item(name)
            item.add(Version(new_version(), dict(attrs), {"app": "bench"},
                             {"value": f"value-{i:06d}-{'x' * 24}", "contentType": "text/plain"}))
            src.live["secrets"][name.lower()] = item
    if dst is None:
        return
    token = f"c{created}"  # kvdr.vault.session.version_token of the creation time
    link = LinkTag(source, token, epoch, token).format()
    with dst.lock:
        for i in range(count):
            name = f"{prefix}-{i:06d}"
            attrs = {"enabled": True, "created": created, "updated": created}
            item = Item(name)
            item.add(Version(new_version(), dict(attrs), {"app": "bench", LINK_TAG: link},
                             {"value": f"value-{i:06d}-{'x' * 24}", "contentType": "text/plain"}))
            dst.live["secrets"][name.lower()] = item


def write_journals(state_dir: Path, count: int, *, source: str = "east", target: str = "west",
                   changed: int = 0, prefix: str = "bench", epoch: int = 1) -> None:
    """Emulator journals (``state_dir/vaults/NAME.jsonl``, the emulator's own persistence
    format) holding ``count`` secrets in ``source`` and their kvdr copies in ``target``; the
    first ``changed`` copies link to an older source version, so a sync rewrites them."""
    import json

    created = int(time.time()) - 3600
    token = f"c{created}"
    link = LinkTag(source, token, epoch, token).format()
    stale = LinkTag(source, f"c{created - 60}", epoch, token).format()
    folder = state_dir / "vaults"
    folder.mkdir(parents=True, exist_ok=True)
    attrs = {"enabled": True, "created": created, "updated": created}
    with (folder / f"{source}.jsonl").open("w") as src, \
            (folder / f"{target}.jsonl").open("w") as dst:
        for i in range(count):
            name = f"{prefix}-{i:06d}"
            value = {"value": f"value-{i:06d}-{'x' * 24}", "contentType": "text/plain"}
            for out, tags in ((src, {"app": "bench"}),
                              (dst, {"app": "bench", LINK_TAG: stale if i < changed else link})):
                item = Item(name)
                item.add(Version(new_version(), dict(attrs), tags, dict(value)))
                out.write(json.dumps({"op": "put", "kind": "secrets", "item": item.to_dict()},
                                     separators=(",", ":")) + "\n")


@dataclass
class Bench:
    emu: Emulator
    config: Config
    runtime: Runtime
    engine: Any
    state_dir: Path

    def run(self, body: dict[str, Any] | None = None, *, timeout: float = 3600
            ) -> tuple[dict[str, Any], float, str]:
        import uuid

        iid = f"bench-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        self.engine.start_new("full_sync", body or {}, instance_id=iid)
        record = self.engine.result(iid, timeout=timeout)
        return record, time.perf_counter() - start, iid

    def data_plane_calls(self, *vaults: str) -> int:
        """Requests the emulator served (its own counters), excluding kvdr's topology record
        reads is not attempted: every request counts."""
        return sum(self.emu.stats(v)["total"] for v in vaults)


@contextmanager
def bench_env(vaults: tuple[str, ...] = ("east", "west"), *, throttle: ThrottleLimits | None = None,
              sections: dict[str, Any] | None = None) -> Iterator[Bench]:
    import function_app
    from engine import Engine

    with tempfile.TemporaryDirectory(prefix="kvdr-bench-") as tmp:
        emu = Emulator([VaultSpec(v, geography="us") for v in vaults], throttle=throttle).start()
        try:
            config = config_for(emu, vaults, **(sections or {}))
            runtime = local_runtime(config, tmp, env={})
            configure(runtime)
            try:
                with Engine(function_app.app, Path(tmp) / "engine") as engine:
                    yield Bench(emu, config, runtime, engine, Path(tmp))
            finally:
                configure(None)
                runtime.close()
        finally:
            emu.stop()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_note() -> str:
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
