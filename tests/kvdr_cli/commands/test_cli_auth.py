"""Missing Azure credentials, as an operator meets them: `kvdr` against real (non-loopback)
vault URLs on a machine where no credential can get a token. The answer is one line naming
what DefaultAzureCredential tried and what to do, exit code 4 — not an unreachable vault, not
the SDK's multi-line dump. The run is kept on this machine: the managed identity probe (IMDS,
169.254.169.254) is excluded with azure-identity's own AZURE_TOKEN_CREDENTIALS=dev, no Azure
CLI / azd / pwsh is on PATH, and a guard in the child process refuses (and records) any
connection or name lookup that is not loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvdr_cli.emulated import to_toml
from support.cli import ROOT

SUB = "00000000-0000-0000-0000-000000000000"

GUARD = '''
import os, socket

_LOG = os.environ["NETWORK_GUARD_LOG"]
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _refuse(what):
    with open(_LOG, "a") as log:
        log.write(what + "\\n")
    raise OSError("network guard: only loopback is allowed in this test")


_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if host not in _LOOPBACK and host is not None:
        _refuse(f"lookup {host}")
    return _getaddrinfo(host, *args, **kwargs)


_connect = socket.socket.connect


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
        _refuse(f"connect {address[0]}")
    return _connect(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
'''


def real_vaults_toml(path: Path) -> Path:
    regions = {name: {"vault_url": f"https://kvdr-test-{name}.vault.azure.net/",
                      "resource_id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                                     f"Microsoft.KeyVault/vaults/kvdr-test-{name}",
                      "geography": "us"} for name in ("eastus", "westus")}
    path.write_text(to_toml({"regions": regions, "topology": {"initial_primary": "eastus"}}))
    return path


def run_without_credentials(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                                 str]:
    guard = tmp_path / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "network.log"
    log.write_text("")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": str(tmp_path / "no-tools"), "HOME": str(home),
           "PYTHONPATH": os.pathsep.join((str(guard), str(ROOT))),
           "AZURE_TOKEN_CREDENTIALS": "dev", "NETWORK_GUARD_LOG": str(log)}
    result = subprocess.run([sys.executable, "-m", "kvdr_cli", *args], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=120)
    return result, log.read_text()


@pytest.mark.parametrize("command", [("status",), ("sync",), ("drill",),
                                     ("failover", "--target", "westus", "--reason", "t", "--yes"),
                                     ("host", "--port", "0")])
def test_missing_credentials_are_one_auth_error_with_exit_code_4(tmp_path: Path,
                                                                command: tuple[str, ...]) -> None:
    config = real_vaults_toml(tmp_path / "kvdr.toml")

    result, network = run_without_credentials(tmp_path, *command, "--config", str(config))

    assert network == ""  # nothing left this machine, not even a name lookup
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    line = result.stderr
    assert line.startswith("kvdr: authentication failed: ") and "[auth.failed]" in line
    assert "DefaultAzureCredential" in line and "AzureCliCredential" in line
    assert "az login" in line and "managed identity" in line
    assert "unreachable" not in line and "Traceback" not in line
    assert not (tmp_path / ".kvdr" / "engine").exists()  # nothing started
