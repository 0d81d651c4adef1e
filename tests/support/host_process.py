"""`kvdr host` as an operator runs it: a process of its own (its own task hub and state), started
from the command line with a clean ``KVDR_*`` environment, and called over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.server import free_port
from support.cli import ROOT

HOST_READY_SECONDS = 60


@dataclass
class HostProcess:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    err: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        """``(status, parsed JSON or None, raw text)``; HTTP errors are returned, not raised, and
        an answer that is not JSON (which kvdr must never give) is kept as text."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text) if text else None, text
        except ValueError:
            return status, None, text

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, parsed, text = self.request(method, path, body)
        return status, parsed if parsed is not None or not text else {"text": text[:300]}

    def get(self, path: str) -> tuple[int, Any, str]:
        return self.request("GET", path)

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


def start_kvdr_host(name: str, config: Path, state_dir: Path,
                    env: dict[str, str] | None = None) -> HostProcess:
    """``python -m kvdr_cli host --config CONFIG --state-dir STATE_DIR`` on a free port, with
    ``env`` added to a copy of this environment without its ``KVDR_*`` variables; returns once
    the host prints ``ready``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    environment.update(PYTHONPATH=str(ROOT), **(env or {}))
    port = free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    out, err = state_dir / "host.stdout", state_dir / "host.stderr"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kvdr_cli", "host", "--config", str(config), "--state-dir",
             str(state_dir), "--port", str(port)], cwd=state_dir, env=environment,
            stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr)
    host = HostProcess(name, proc, port, out, err)
    deadline = time.monotonic() + HOST_READY_SECONDS
    while "ready" not in out.read_text(errors="replace").split():
        if proc.poll() is not None or time.monotonic() > deadline:
            host.stop()
            raise AssertionError(f"host {name} did not start: "
                                 f"{err.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return host
