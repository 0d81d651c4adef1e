"""`make demo`: the whole story on one laptop, on the embedded default.

Two emulated regional vaults (realistic throttling), the function app on the local durable
engine, Event Grid deliveries from the emulator into the app's webhook. It seeds the primary,
runs the initial full sync through the app's HTTP starter with progress, shows live writes
replicating through the event path, shows that a second full sync writes nothing, prints the
replication status, runs the DR drill, takes the primary's vault down so that an Azure Monitor
alert starts a failover that an operator approves (renewal is handed over), keeps writing to
the new primary, fails back once the old region returns (nothing lost), lets ten months pass on
the emulator's clock (only the primary renews its certificates; the copies follow), checks that
no seeded value reached the engine's checkpoints or kvdr's state, and stops everything it
started.

The app plays the westus region's copy (``topology.local_region = westus``): it is the one
Azure Monitor tells when eastus's vault fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction

import function_app
from emulator.server import VaultSpec
from emulator.testing import Emulator
from emulator.throttle import ThrottleLimits
from engine import InstanceStatus
from engine.host import LocalHost
from kvdr.config.loading import load_toml
from kvdr.drill.report import LAST_REPORT_KEY as DRILL_REPORT
from kvdr.drill.report import DrillReport
from kvdr.events.handler import reset_caches
from kvdr.failover.report import LAST_REPORT_KEY as FAILOVER_REPORT
from kvdr.failover.report import FailoverReport
from kvdr.renewal.ledger import read_ledger
from kvdr.renewal.ownership import read_policy
from kvdr.services import Runtime, configure, local_runtime
from kvdr.status import LAST_REPORT_KEY as SYNC_REPORT
from kvdr.status import build_status
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import LinkState
from kvdr.vault.session import props_from_certificate
from kvdr_cli.commands.host import export_schedules
from kvdr_cli.commands.local import ProgressDisplay, follow, phase_of
from kvdr_cli.commands.sync import render_record
from kvdr_cli.emulated import emulator_document, to_toml

VAULTS = {"eastus": "kv-east", "westus": "kv-west"}
LOG_NAME = "demo.log"
CREATE_OPS = ("SetSecret", "ImportCertificate", "RestoreKey")  # each makes a new version
WRITE_OPS = (*CREATE_OPS, "UpdateSecret", "UpdateCertificate", "UpdateKey", "DeleteSecret",
             "RecoverDeletedSecret")


def say(text: str = "") -> None:
    print(text, flush=True)


def step(n: int, text: str) -> None:
    say(f"\n== {n}. {text}")


def toml_for(emu: Emulator) -> str:
    return to_toml(emulator_document({r: emu.url(v) for r, v in VAULTS.items()}, emu.ca_cert,
                                     vault_names=VAULTS, resource_group="rg-demo",
                                     topology={"initial_primary": "eastus",
                                               "local_region": "westus"}))


def writes(emu: Emulator, vault: str, ops_counted: Sequence[str] = WRITE_OPS) -> int:
    ops = emu.stats(vault)["operations"]
    return sum(n for op in ops_counted for status, n in ops.get(op, {}).items()
               if status.startswith("2"))


def reset_all(emu: Emulator) -> None:
    for vault in VAULTS.values():
        emu.reset_stats(vault)


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def seed(emu: Emulator, n_secrets: int) -> dict[str, str]:
    """Secrets with metadata, certificates (one non-exportable) and keys on the primary.
    Returns the seeded secret values (to prove later that none leaked)."""
    values: dict[str, str] = {}
    expires = datetime.now(UTC) + timedelta(days=90)
    with emu.secret_client("kv-east") as east:
        for i in range(n_secrets):
            name = f"app{i % 5}-setting-{i:03d}"
            value = f"demo-{secrets.token_hex(12)}"
            values[name] = value
            east.set_secret(name, value, content_type="text/plain",
                            tags={"app": f"app{i % 5}", "env": "prod"},
                            expires_on=expires if i % 3 == 0 else None,
                            enabled=i % 50 != 7)
    with emu.certificate_client("kv-east") as certs:
        for name, exportable in (("web-tls", True), ("api-tls", True),
                                 ("hsm-bound-tls", False)):
            # each renews itself at 80 % of its 12 months — in the primary only (step 12)
            policy = CertificatePolicy(issuer_name="Self", subject=f"CN={name}.contoso.test",
                                       exportable=exportable, key_type="RSA", key_size=2048,
                                       validity_in_months=12, lifetime_actions=[
                                           LifetimeAction(CertificatePolicyAction.auto_renew,
                                                          lifetime_percentage=80)])
            certs.begin_create_certificate(name, policy).result()
    with emu.key_client("kv-east") as keys:
        keys.create_rsa_key("signing-key", size=2048, tags={"use": "jwt"})
        keys.create_ec_key("payments-key", curve="P-256")
    return values


def run_sync(host: LocalHost, label: str) -> dict[str, Any]:
    status, body = http("POST", f"{host.base_url}/api/runbooks/full-sync")
    if status != 202:
        raise SystemExit(f"demo: the full sync did not start ({status}): {body}")
    instance_id = body["id"]
    say(f"   started {label}: instance {instance_id} (POST /api/runbooks/full-sync -> 202)")
    display = ProgressDisplay(sys.stdout, interval=1.0)
    try:
        final = follow(host.engine, instance_id, display)
    finally:
        display.close()
    record = final.output
    say("\n".join("   " + line for line in render_record(record).splitlines()))
    return record


def follow_runbook(host: LocalHost, instance_id: str, *,
                   until_phase: str | None = None) -> InstanceStatus:
    """Follow a runbook's phases until it ends (or reaches ``until_phase``)."""

    def line(status: InstanceStatus | None, _children: Sequence[InstanceStatus]) -> str:
        return f"   {instance_id}: {phase_of(status) or 'starting'}"

    display = ProgressDisplay(sys.stdout, interval=1.0)
    try:
        return follow(host.engine, instance_id, display, line=line,
                      until=(lambda st: phase_of(st) == until_phase) if until_phase else None)
    finally:
        display.close()


def indented(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def availability_alert(resource_id: str) -> dict[str, Any]:
    """What Azure Monitor's action group posts when the vault's availability alert fires
    (common alert schema; infra/bicep/modules/alerts.bicep deploys the rule)."""
    fired = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {
        "alertId": f"/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                   f"Microsoft.AlertsManagement/alerts/{secrets.token_hex(16)}",
        "alertRule": "kvdr-vault-availability-kv-east", "severity": "Sev1",
        "signalType": "Metric", "monitorCondition": "Fired", "monitoringService": "Platform",
        "alertTargetIDs": [resource_id.lower()], "firedDateTime": fired,
        "essentialsVersion": "1.0", "alertContextVersion": "1.0"}, "alertContext": {}}}


def live_writes(emu: Emulator, count: int) -> list[float]:
    """Write new versions on the primary; time until each copy is stored in the secondary."""
    arrived: dict[tuple[str, str], float] = {}
    west = emu.store("kv-west")

    def on_version(vault: str, kind: str, name: str, version: str) -> None:
        if kind == "secrets":
            arrived.setdefault((name, "w"), time.monotonic())

    west.observers.append(on_version)
    lags = []
    try:
        with emu.secret_client("kv-east") as east:
            for i in range(count):
                name = f"live-rotation-{i:02d}"
                start = time.monotonic()
                east.set_secret(name, f"rotated-{secrets.token_hex(8)}")
                deadline = start + 15
                while (name, "w") not in arrived and time.monotonic() < deadline:
                    time.sleep(0.005)
                if (name, "w") in arrived:
                    lags.append(arrived[(name, "w")] - start)
                    say(f"   {name}: copy stored in westus {lags[-1] * 1000:.0f} ms after "
                        "the write on eastus")
                else:
                    say(f"   {name}: no copy within 15 s")
                time.sleep(0.2)
    finally:
        west.observers.remove(on_version)
    return lags


def minted(emu: Emulator, vault: str, name: str) -> tuple[int, int]:
    """(versions, versions this vault minted itself: every version but kvdr's copies)."""
    with emu.certificate_client(vault) as client:
        found = [props_from_certificate(p)
                 for p in client.list_properties_of_certificate_versions(name)]
    return len(found), sum(1 for p in found if p.link_state != LinkState.CONFIRMED)


def renewal_act(emu: Emulator, runtime: Runtime) -> None:
    """Step 12: the copies' AutoRenew was disarmed by the sync (the armed form kept in westus's
    renewal ledger); ten months later eastus renews, westus does not, and the event path
    copies eastus's new versions."""
    west = runtime.session("westus")
    policy = read_policy(west, ItemKind.CERTIFICATE, "web-tls")
    say(f"   web-tls in westus: {policy.renewal.encode() if policy else '?'} (disarmed copy); "
        f"armed form kept in westus's ledger: "
        f"{len(read_ledger(west))} entries")
    emu.advance(300 * 86400)
    emu.wait_events_delivered(60)
    for name in ("web-tls", "api-tls"):
        east_total, east_own = minted(emu, "kv-east", name)
        west_total, west_own = minted(emu, "kv-west", name)
        say(f"   {name}: eastus {east_total} versions ({east_own - 1} renewal minted there); "
            f"westus {west_total} versions, {west_own} minted there")


def leaked(paths: Sequence[Path], values: dict[str, str]) -> int:
    found = 0
    for root in paths:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += sum(1 for v in values.values() if v.encode() in data)
    return found


def log_to_file(path: Path) -> logging.Handler:
    """Warnings (a vault down on purpose, retries) go to ``path``, not between the story's
    lines; the end of the demo says how many there were and where."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    return handler


def where_things_are(work: Path, *, keep: bool) -> str:
    """The reports the demo's runbooks wrote (kvdr's state store) and its log."""
    log = work / LOG_NAME
    warnings = sum(1 for _ in log.open(encoding="utf-8")) if log.exists() else 0
    lines = ["Reports (JSON) of the last full sync, drill and failback, and the log "
             f"({warnings} routine warning(s), e.g. the vault taken down on purpose):"]
    lines += [f"   {work / 'state' / key}" for key in (SYNC_REPORT, DRILL_REPORT,
                                                        FAILOVER_REPORT)]
    lines.append(f"   {log}")
    lines.append(f"Kept in {work} (remove it when done)." if keep else
                 f"{work} has been removed; `make demo KEEP=1` (or --keep) keeps it.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvdr_cli.demo", description=__doc__)
    parser.add_argument("--secrets", type=int, default=250,
                        help="secrets to seed on the primary (default 250)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (reports, checkpoints, demo.log); "
                             "`make demo KEEP=1`")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kvdr-demo-"))
    log = log_to_file(work / LOG_NAME)
    say("kvdr demo — disaster recovery for Azure Key Vault, on one laptop")
    say(f"(working directory {work}; everything runs on 127.0.0.1 and stops at the end)")

    step(1, "Two regional vaults: the Key Vault emulator with Azure's throttling limits")
    with Emulator([VaultSpec(v, geography="us") for v in VAULTS.values()],
                  throttle=ThrottleLimits()) as emu:
        for region, vault in VAULTS.items():
            say(f"   {region}: {vault} at {emu.url(vault)}")
        config_path = work / "kvdr.toml"
        config_path.write_text(toml_for(emu))
        say(f"   configuration: {config_path} (eastus is the initial primary)")

        step(2, f"Seed the primary: {args.secrets} secrets with metadata, 3 certificates "
                "(one non-exportable), 2 keys")
        t0 = time.monotonic()
        values = seed(emu, args.secrets)
        say(f"   seeded in {time.monotonic() - t0:.1f} s through the Azure SDK clients")

        step(3, "Start the function app on the local durable engine; Event Grid -> its webhook")
        runtime = local_runtime(load_toml(config_path), work, env={})
        export_schedules(runtime.config)
        previous = configure(runtime)
        reset_caches()
        try:
            with LocalHost(function_app.app, state_dir=work / "engine", port=0) as host:
                webhook = (f"{host.base_url}/runtime/webhooks/EventGrid"
                           "?functionName=event_grid_sync")
                emu.subscribe_events(webhook)
                say(f"   app at {host.base_url}/api/ ; Event Grid webhook {webhook}")

                step(4, "Initial full sync (inventory, plan, paced copy, verify, report)")
                reset_all(emu)
                t0 = time.monotonic()
                run_sync(host, "the initial full sync")
                say(f"   took {time.monotonic() - t0:.1f} s; on westus "
                    f"{writes(emu, 'kv-west', CREATE_OPS)} new versions (paced under Key "
                    f"Vault's 300 creates per 10 s) and "
                    f"{writes(emu, 'kv-west') - writes(emu, 'kv-west', CREATE_OPS)} property "
                    "updates (each copy's link tag confirmed)")

                step(5, "Live writes on the primary replicate through the event path")
                lags = live_writes(emu, 8)
                if lags:
                    lags.sort()
                    say(f"   median {lags[len(lags) // 2] * 1000:.0f} ms, "
                        f"max {lags[-1] * 1000:.0f} ms")
                emu.wait_events_delivered(20)

                step(6, "A second full sync finds everything in sync and writes nothing")
                reset_all(emu)
                run_sync(host, "the second full sync")
                total_west = emu.stats("kv-west")["total"]
                say(f"   writes on westus: {writes(emu, 'kv-west')}; data-plane calls on "
                    f"westus: {total_west} (list calls only)")

                step(7, "Replication status (GET /api/status, also `kvdr status`)")
                code, body = http("GET", f"{host.base_url}/api/status")
                say(f"   HTTP {code}: primary {body.get('primary')}, epoch {body.get('epoch')}, "
                    f"{len(body.get('pairs', []))} vault pair(s); as text:")
                say(indented(build_status(runtime).render_text()))

                step(8, "The monthly DR drill (POST /api/runbooks/drill): measures RPO and RTO, "
                        "changes nothing")
                code, body = http("POST", f"{host.base_url}/api/runbooks/drill")
                say(f"   HTTP {code}: instance {body.get('id')}")
                drill = follow_runbook(host, body["id"])
                say(indented(DrillReport.from_dict(drill.output).render_text()))

                step(9, "eastus's vault goes down; Azure Monitor's alert reaches westus's app")
                emu.down("kv-east")
                east_id = runtime.config.region("eastus").resource_id
                code, body = http("POST", f"{host.base_url}/api/alerts",
                                  availability_alert(east_id))
                say(f"   POST /api/alerts -> HTTP {code}: {body.get('outcome')}, instance "
                    f"{body.get('instance_id')} (approval required: "
                    f"{body.get('approval_required')})")
                failover_id = body["instance_id"]
                waiting = follow_runbook(host, failover_id, until_phase="awaiting_approval")
                plan = (waiting.custom_status or {}).get("plan", {})
                say(f"   plan: {plan.get('kind')} {plan.get('source')} -> {plan.get('target')}, "
                    f"epoch {plan.get('epoch_before')} -> {plan.get('epoch_after')}, steps "
                    f"{', '.join(plan.get('steps', []))}")
                for reason in plan.get("reasons", []):
                    say(f"   note: {reason}")
                code, _ = http("POST", f"{host.base_url}/api/runbooks/{failover_id}/approve",
                               {"approved": True, "by": "oncall@contoso.example",
                                "comment": "eastus vault unavailable, confirmed"})
                say(f"   the on-call engineer approves: POST /api/runbooks/{failover_id}/approve "
                    f"-> HTTP {code}")
                done = follow_runbook(host, failover_id)
                say(indented(FailoverReport.from_dict(done.output).render_text()))

                step(10, "Applications keep writing — now to westus, the primary")
                with emu.secret_client("kv-west") as west:
                    for i in range(3):
                        name = f"outage-write-{i}"
                        value = f"outage-{secrets.token_hex(8)}"
                        values[name] = value
                        west.set_secret(name, value)
                        say(f"   {name} written on westus")

                step(11, "eastus is back: fail back (POST /api/runbooks/failback) — reconcile, "
                         "drain, switch, verify")
                emu.up("kv-east")
                code, body = http("POST", f"{host.base_url}/api/runbooks/failback",
                                  {"target": "eastus", "reason": "eastus recovered",
                                   "requested_by": "oncall@contoso.example"})
                say(f"   HTTP {code}: instance {body.get('id')}")
                back = follow_runbook(host, body["id"])
                say(indented(FailoverReport.from_dict(back.output).render_text()))
                with emu.secret_client("kv-east") as east:
                    arrived = sum(1 for i in range(3)
                                  if east.get_secret(f"outage-write-{i}").value
                                  == values[f"outage-write-{i}"])
                say(f"   outage writes now on eastus: {arrived} of 3")
                say(indented(build_status(runtime).render_text()))

                step(12, "Ten months pass (the emulator's clock): only the primary — eastus "
                         "again since the failback — renews its certificates; copies follow")
                renewal_act(emu, runtime)
        finally:
            configure(previous)
            runtime.close()
            reset_caches()

        step(13, "No secret value in the engine's checkpoints or kvdr's state")
        count = leaked([work / "engine", work / "state"], values)
        say(f"   seeded values found in {work / 'engine'} and {work / 'state'}: {count}")

    logging.getLogger().removeHandler(log)
    log.close()
    say("\nDone: the emulator and the local host are stopped.")
    say(where_things_are(work, keep=args.keep))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
