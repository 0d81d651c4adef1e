"""`python -m engine host` as a real process: ready line, kill -9 mid-run and resume with
completed activities not re-run, SIGTERM exits 0 and a restart resumes waiting instances."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostProcess:
    def __init__(self, state_dir: Path, port: int) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                            str(ROOT / "tests")])}
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "host", "--app", "support.sample_app:app",
             "--state-dir", str(state_dir), "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.rstrip())
            if line.strip() == "ready":
                break
        assert self.lines and self.lines[-1] == "ready", self.lines

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/runtime/webhooks/durabletask"

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, None

    def status(self, instance_id: str) -> dict:
        return self.call("GET", f"/instances/{instance_id}?showHistory=true")[1]  # type: ignore

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)


def test_host_prints_where_it_listens_then_ready_and_sigterm_exits_zero(tmp_path):
    port = _free_port()
    host = HostProcess(tmp_path, port)
    assert f"listening on http://127.0.0.1:{port}" in host.lines
    assert host.stop(signal.SIGTERM) == 0


def test_kill_9_mid_run_resumes_and_finishes_exactly_once(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    state = tmp_path / "state"
    host = HostProcess(state, _free_port())
    code, _ = host.call("POST", "/orchestrators/markers/crash-1",
                        {"dir": str(markers), "block_on": "release"})
    assert code == 202
    # step two is in flight (blocked) when the engine dies
    eventually(lambda: list(markers.glob("two.*.run")))
    host.proc.kill()
    host.proc.wait(30)
    (markers / "release").write_text("go")
    host = HostProcess(state, _free_port())
    try:
        status = eventually(lambda: (s := host.status("crash-1"))["runtimeStatus"] == "Completed"
                            and s)
    finally:
        assert host.stop(signal.SIGTERM) == 0
    assert status["output"] == ["one", "two", "three"]
    assert len(list(markers.glob("one.*.run"))) == 1      # completed before the kill: not rerun
    assert len(list(markers.glob("two.*.run"))) == 2      # in flight: ran again (at-least-once)
    assert len(list(markers.glob("three.*.run"))) == 1
    kinds = [e["EventType"] for e in status["historyEvents"]]
    assert kinds.count("ExecutionCompleted") == 1
    assert kinds.count("TaskScheduled") == 3 and kinds.count("TaskCompleted") == 3


def test_restart_after_sigterm_resumes_a_waiting_instance(tmp_path):
    state = tmp_path / "state"
    host = HostProcess(state, _free_port())
    host.call("POST", "/orchestrators/two_events/wait-1")
    host.call("POST", "/instances/wait-1/raiseEvent/Step", "first")
    eventually(lambda: any(e["EventType"] == "EventRaised"
                           for e in host.status("wait-1")["historyEvents"]))
    assert host.stop(signal.SIGTERM) == 0
    host = HostProcess(state, _free_port())
    try:
        assert host.status("wait-1")["runtimeStatus"] == "Running"
        assert host.call("POST", "/instances/wait-1/raiseEvent/Step", "second")[0] == 202
        status = eventually(lambda: (s := host.status("wait-1"))["runtimeStatus"] == "Completed"
                            and s)
    finally:
        host.stop(signal.SIGTERM)
    assert status["output"] == ["first", "second"]
