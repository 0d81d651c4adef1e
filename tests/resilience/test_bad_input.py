"""Suite 5 (issue 13): bad input, property-based. Hypothesis sends every HTTP endpoint of the
function app, served by the local host, generated bodies — arbitrary bytes, arbitrary JSON,
near-valid mutations of valid samples, wrong content types, huge strings, unicode, nulls — and
generated ``kvdr.toml`` documents to the configuration loader and to ``kvdr status --config``.

Properties: never a 5xx; every 4xx carries ``{"error": {"code", "message"}}`` with a code from
``kvdr.error_codes``; no traceback text in any answer; no runbook started by a request answered
with a 4xx (runbook instances counted through the engine's management API before and after).
A generated configuration raises nothing but ``ConfigError`` (exit 2 on the command line, one
line, no traceback). The vaults hold secrets with unique values (``support.leaks``; one of them
named as the Event Grid samples name their item, so valid deliveries copy it); every answer,
every log record of the run (DEBUG) and, at the end, the host's state dir, every orchestration
(through the management API) and the custom events are scanned for them: no hit (suite 6).

Sizes (tests/resilience/conftest.py): 50 inputs per endpoint, derandomized, in ``make test``;
``KVDR_RESILIENCE_SIZE=large`` tries 1,000 with a fresh seed.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions.models.utils import http_utils
from hypothesis import example, given, settings
from hypothesis import strategies as st
from resilience.leaks_support import (
    ScanningLogHandler,
    scan_engine,
    scan_management_api,
    scanning_logs,
)

import function_app
from engine.host import LocalHost
from kvdr.catalogue import Orchestrator
from kvdr.config.loading import load_toml
from kvdr.config.validate import TOML_SECTIONS
from kvdr.error_codes import ERROR_CODES
from kvdr.errors import ConfigError
from support import alert_samples
from support.config_samples import VALID_TOML
from support.leaks import LeakScanner, unique_secret_value
from support.sync import US_PAIR, SyncEnv, start_env

CODES = frozenset(spec.code for spec in ERROR_CODES)
RUNBOOKS = frozenset({Orchestrator.FULL_SYNC, Orchestrator.FAILOVER, Orchestrator.DRILL,
                      Orchestrator.RESTORE})
TRIED: Counter[str] = Counter()  # inputs sent per endpoint (printed: the README's figures)
GRID = "/runtime/webhooks/EventGrid?functionName=event_grid_sync"
SUB = alert_samples.SUBSCRIPTION
# the secrets seeded in the vaults (name -> region): their values are scanned for everywhere
SEEDED_SECRETS = {"bad-input-probe": "east", "app-alpha": "east", "app-beta": "east",
                  "db-password": "east", "app-west-drift": "west"}
SCANNER = LeakScanner()

# -- generated inputs ----------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from([
    "", " ", "\x00", "\ud800", "\ufeff", "null", "true", "[]", "{}", "-1", "1e999",
    "ünïcødé 🙂 عربى 中文", "../../etc/passwd", "%00%2F", "<script>", "x" * 300_000,
    "east", "west", "EAST", "2026-03-01T11:58:24Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "Fired", "Resolved", "P1D", "2h", "*", "app-*", "secrets", "certificates",
])
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
           | st.floats(allow_nan=False) | st.text(max_size=40) | HOSTILE_TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.text(max_size=12) | HOSTILE_TEXT, inner, max_size=5),
                    max_leaves=25)
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "text/plain", None,
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/cloudevents+json", "application/cloudevents-batch+json",
    "application/json; charset=utf-16", "application/octet-stream", "ünï/cødé",
])
DEEP = b"[" * 100_000 + b"]" * 100_000  # deeper than any JSON parser's recursion


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def mutated(draw: st.DrawFn, sample: Any) -> Any:
    """``sample`` with 1-3 near-valid changes at random places: a field removed, set to a
    generated value, an unknown field added, a list emptied or wrapped, the type changed."""
    doc = copy.deepcopy(sample)
    for _ in range(draw(st.integers(1, 3))):
        doc = _mutate_once(draw, doc)
    return doc


def _mutate_once(draw: st.DrawFn, doc: Any) -> Any:
    # walk down to a random container, then change one thing in it
    path: list[Any] = []
    node = doc
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict)
                                   else list(range(len(node)))))
        if not isinstance(node[key], dict | list):
            break
        path.append(key)
        node = node[key]
    action = draw(st.sampled_from(["set", "drop", "add", "retype", "whole"]))
    if action == "whole" or not isinstance(node, dict | list) or not node:
        replacement = draw(JSON)
        return replacement if not path else _put(doc, path, replacement)
    key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
    if action == "set":
        node[key] = draw(JSON)
    elif action == "drop":
        del node[key]
    elif action == "add" and isinstance(node, dict):
        node[draw(st.text(max_size=12) | HOSTILE_TEXT)] = draw(JSON)
    elif action == "add":
        node.append(draw(JSON))
    else:  # the same value in another JSON type
        value = node[key]
        node[key] = draw(st.sampled_from([[value], {"value": value}, str(value), None, 0]))
    return doc


def _put(doc: Any, path: list[Any], value: Any) -> Any:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def bodies(samples: list[Any]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, arbitrary JSON, near-valid mutations of ``samples``, raw edge cases."""
    return st.one_of(
        st.binary(max_size=512),
        JSON.map(_encode),
        st.sampled_from(samples).flatmap(mutated).map(_encode),
        st.sampled_from(samples).map(lambda s: _encode(s)[: len(_encode(s)) // 2]),
        st.sampled_from([b"", b"null", b"[]", b"{}", b"\xff\xfe{", DEEP, b'"\\ud800"',
                         b'{"a": NaN}', b"\xef\xbb\xbf{}"]),
    )


# -- valid samples ------------------------------------------------------------------------

def _vault_event(vault_url: str, name: str = "bad-input-probe") -> dict[str, Any]:
    return {"Id": f"{vault_url.rstrip('/')}/secrets/{name}/0123456789abcdef0123456789abcdef",
            "VaultName": "east", "ObjectType": "Secret", "ObjectName": name,
            "Version": "0123456789abcdef0123456789abcdef", "NBF": None, "EXP": None}


def grid_samples(vault_url: str) -> list[Any]:
    topic = (f"/subscriptions/{SUB}/resourceGroups/rg-kvdr/providers/Microsoft.KeyVault/"
             "vaults/east")
    grid = {"id": "2f1a6c0e-0000-4000-8000-000000000001", "topic": topic,
            "subject": "bad-input-probe", "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
            "eventTime": "2026-03-01T11:58:24.3713213Z", "data": _vault_event(vault_url),
            "dataVersion": "1", "metadataVersion": "1"}
    cloud = {"specversion": "1.0", "id": "2f1a6c0e-0000-4000-8000-000000000002",
             "source": topic, "subject": "bad-input-probe",
             "type": "Microsoft.KeyVault.SecretNewVersionCreated",
             "time": "2026-03-01T11:58:24.3713213Z", "data": _vault_event(vault_url)}
    validation = {"id": "v", "subject": "", "eventTime": "2026-03-01T11:58:24Z",
                  "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                  "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9853b7"}}
    return [[grid], grid, [cloud], cloud, [grid, cloud], [validation]]


ALERTS = [
    alert_samples.metric_alert(alert_samples.vault_id("west")),
    alert_samples.metric_alert(alert_samples.vault_id("east"), condition="Resolved"),
    alert_samples.resource_health_alert(alert_samples.vault_id("west")),
    alert_samples.service_health_alert(),
    alert_samples.administrative_alert(alert_samples.vault_id("east")),
    alert_samples.log_search_alert(alert_samples.workspace_id()),
    alert_samples.budget_test_alert(),
]
STARTERS: dict[str, list[Any]] = {
    "full-sync": [{"dry_run": True, "targets": ["west"]}, {"dry_run": True}],
    "failover": [{"target": "west", "reason": "bad input", "dry_run": True,
                  "approval_required": True, "approval_timeout_seconds": 60,
                  "expected_epoch": 1, "mode": "planned", "requested_by": "hypothesis"}],
    "failback": [{"target": "east", "reason": "bad input", "dry_run": True}],
    "drill": [{"targets": ["west"]}],
    "restore": [{"as_of": "2h", "names": ["app-*"], "kinds": ["secrets", "certificates"],
                 "dry_run": True, "approval_required": True, "reason": "bad input",
                 "disable_new": False, "approval_timeout_seconds": 60,
                 "requested_by": "hypothesis"}],
}
APPROVALS = [{"approved": True, "by": "ops", "comment": "ok"}, {"approved": False, "by": "ops"}]


# -- the host and the properties ------------------------------------------------------------

@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncEnv, LocalHost]]:
    """east (primary) and west in the emulator; the real function app on a LocalHost that runs
    in west (so the alert webhook acts on alerts about east), approval required."""
    sections = {"topology": {"initial_primary": "east", "local_region": "west"},
                "policies": {"approval": "required"}}
    gen = start_env(tmp_path_factory.mktemp("bad-input"), US_PAIR, sections=sections)
    env = next(gen)
    _seed_secrets(env)
    env.engine.stop()  # the host runs its own engine on another directory
    # the Durable client's aiohttp session is bound to the loop of the host that made it
    http_utils._client_session = None
    with LocalHost(function_app.app, state_dir=env.state_dir / "host", port=0) as host:
        yield env, host
        _settle(host)
    gen.close()


def _seed_secrets(env: SyncEnv) -> None:
    for i, (name, region) in enumerate(sorted(SEEDED_SECRETS.items())):
        value = unique_secret_value(f"bad-input-{name}", exotic=i % 2 == 0)
        SCANNER.add(value)
        with env.emu.secret_client(region) as client:
            client.set_secret(name, value)


@pytest.fixture(scope="module", autouse=True)
def scanned_logs() -> Iterator[ScanningLogHandler]:
    with scanning_logs(SCANNER, "host logs (DEBUG)") as handler:
        yield handler


@pytest.fixture(scope="module", autouse=True)
def report_inputs() -> Iterator[None]:
    yield
    if TRIED:
        print("\nbad input: " + ", ".join(f"{k} {n}" for k, n in sorted(TRIED.items())))


def _settle(host: LocalHost, seconds: float = 120) -> None:
    """Let runbooks that valid inputs started reach a point with no activity in flight before
    the host and the emulator stop. Synchronisation only, never an assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(s.runtime_status.is_terminal or (isinstance(s.custom_status, dict) and
                                                s.custom_status.get("phase") ==
                                                "awaiting_approval")
               for s in host.engine.list_instances()):
            return
        time.sleep(0.1)


def send(host: LocalHost, method: str, path: str, raw: bytes | None,
         content_type: str | None = "application/json") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(host.base_url + path, data=raw, method=method,
                                     headers=headers)
    if content_type is None and raw is not None:
        request.remove_header("Content-type")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    SCANNER.scan_text(f"answer to {method} {path[:80]}", text, kind="HTTP response")
    return status, text


def runbooks(host: LocalHost) -> set[str]:
    """The runbook instances the engine holds, read through its management API."""
    status, text = send(host, "GET", "/runtime/webhooks/durabletask/instances?top=100000",
                        None, None)
    assert status == 200, text[:200]
    return {i["instanceId"] for i in json.loads(text) if i["name"] in RUNBOOKS}


def check_answer(status: int, text: bytes, *, what: str) -> None:
    """The properties every answer has."""
    shown = text[:300]
    assert status < 500, f"{what}: {status} {shown!r}"
    decoded = text.decode("utf-8", "replace")
    assert "Traceback" not in decoded and 'File "' not in decoded, f"{what}: {shown!r}"
    if status >= 400:
        body = json.loads(text)  # every 4xx is JSON ...
        error = body["error"]    # ... with the error envelope
        assert isinstance(error, dict), f"{what}: {shown!r}"
        assert error["code"] in CODES, f"{what}: code {error['code']!r} not in the table"
        assert isinstance(error["message"], str) and error["message"], f"{what}: {shown!r}"


def post_checked(host: LocalHost, path: str, raw: bytes, content_type: str | None,
                 method: str = "POST", label: str | None = None) -> int:
    before = runbooks(host)
    status, text = send(host, method, path, raw, content_type)
    TRIED[label or path] += 1
    check_answer(status, text, what=f"{method} {path} {raw[:120]!r} ({content_type})")
    if status >= 400:
        assert runbooks(host) == before, f"{path}: a {status} started a runbook"
    return status


# -- the endpoints --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("starter", sorted(STARTERS))
def test_a_runbook_starter_answers_any_body_with_a_coded_4xx_and_starts_nothing(
        hosted, starter: str) -> None:
    _env, host = hosted

    @given(raw=bodies(STARTERS[starter]), content_type=CONTENT_TYPES)
    @example(raw=DEEP, content_type="application/json")
    @example(raw=b'{"reason": "\\ud800"}', content_type="application/json")
    def run(raw: bytes, content_type: str | None) -> None:
        post_checked(host, f"/api/runbooks/{starter}", raw, content_type)

    run()


# (a URL over the HTTP parser's 8 KiB line limit is refused before any route: not tried)
INSTANCE_IDS = (st.text(min_size=1, max_size=120)
                | HOSTILE_TEXT.filter(lambda t: 0 < len(t) < 999)
                | st.sampled_from(["full-sync", "drill", "failover-x", "restore-x"]))


def _quoted(instance_id: str) -> str:
    return urllib.parse.quote(instance_id, safe="", errors="surrogatepass")


@pytest.mark.slow
def test_approve_and_reject_answer_any_body_and_instance_id_with_a_coded_4xx(hosted) -> None:
    _env, host = hosted

    @given(instance_id=INSTANCE_IDS, raw=bodies(APPROVALS), content_type=CONTENT_TYPES)
    @example(instance_id="full-sync", raw=DEEP, content_type="application/json")
    def run(instance_id: str, raw: bytes, content_type: str | None) -> None:
        quoted = _quoted(instance_id)
        post_checked(host, f"/api/runbooks/{quoted}/approve", raw, content_type,
                     label="/api/runbooks/{id}/approve")

    run()


@pytest.mark.slow
def test_the_read_endpoints_answer_any_query_and_method_without_a_5xx(hosted) -> None:
    _env, host = hosted
    paths = st.sampled_from(["/api/status", "/api/health", "/api/topology"]) | \
        INSTANCE_IDS.map(lambda i: "/api/runbooks/" + _quoted(i))
    # a URL over the HTTP parser's 8 KiB line limit is refused by the server before any route
    # (a plain 400, as Kestrel's 414): not an answer of the app, so not tried here
    queries = st.dictionaries(st.text(max_size=10),
                              st.text(max_size=40) | HOSTILE_TEXT.filter(lambda t: len(t) < 999),
                              max_size=3).map(
        lambda q: urllib.parse.urlencode(q, errors="surrogatepass"))

    @given(path=paths, query=queries, raw=st.none() | st.binary(max_size=256),
           method=st.sampled_from(["GET", "GET", "POST", "PUT", "PATCH", "DELETE"]))
    def run(path: str, query: str, raw: bytes | None, method: str) -> None:
        if method != "GET" and not path.startswith("/api/topology"):
            method = "GET"  # only topology routes other methods (to a coded 405)
        target = f"{path}?{query}" if query else path
        before = runbooks(host)
        status, text = send(host, method, target, raw if method != "GET" else None)
        TRIED["reads"] += 1
        check_answer(status, text, what=f"{method} {target[:120]}")
        assert runbooks(host) == before

    run()


@pytest.mark.slow
def test_the_alert_webhook_answers_any_body_with_a_coded_4xx_and_starts_nothing(hosted) -> None:
    _env, host = hosted

    @given(raw=bodies(ALERTS), content_type=CONTENT_TYPES)
    @example(raw=DEEP, content_type="application/json")
    @example(raw=_encode(alert_samples.with_essentials(ALERTS[0], alertTargetIDs=["\ud800"])),
             content_type="application/json")
    def run(raw: bytes, content_type: str | None) -> None:
        post_checked(host, "/api/alerts", raw, content_type)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_the_event_grid_webhook_answers_any_delivery_without_a_5xx(hosted, schema: str) -> None:
    env, host = hosted
    samples = grid_samples(env.config.region("east").vault_url)
    chosen = [s for s in samples if ("specversion" in json.dumps(s)) == (schema == "cloudevents")]
    content = (CONTENT_TYPES if schema == "eventgrid" else
               st.sampled_from(["application/cloudevents+json",
                                "application/cloudevents-batch+json"]) | CONTENT_TYPES)

    @given(raw=bodies(chosen), content_type=content)
    @example(raw=DEEP, content_type="application/json")
    def run(raw: bytes, content_type: str | None) -> None:
        post_checked(host, GRID, raw, content_type, label=f"event grid ({schema})")

    run()


@pytest.mark.slow
def test_no_answer_log_state_or_orchestration_of_the_host_holds_a_seeded_value(
        hosted, scanned_logs, events) -> None:
    """Runs after the endpoint tests above (file order) and scans what they left, with a valid
    request of each kind sent here too, so that it scans a host that did real work even alone."""
    env, host = hosted
    for starter, samples in sorted(STARTERS.items()):
        post_checked(host, f"/api/runbooks/{starter}", _encode(samples[0]), "application/json")
    for sample in grid_samples(env.config.region("east").vault_url)[:2]:
        post_checked(host, GRID, _encode(sample), "application/json", label="event grid")
    _settle(host)
    # the Event Grid samples name a seeded secret: the event path copied it (a real copy)
    with env.emu.secret_client("west") as west:
        assert west.get_secret("bad-input-probe").value is not None
    instances = scan_engine(SCANNER, host.engine, "host engine")
    instances += scan_management_api(SCANNER, host.base_url)
    SCANNER.scan_path(env.state_dir)  # the host's SQLite, the state store, the reports
    SCANNER.scan_spans(events)
    summary = SCANNER.summary()
    print("\nbad input leak scan: " + json.dumps(
        {**summary, "instances": instances, "log_records": scanned_logs.records}))
    assert summary["values"] == len(SEEDED_SECRETS) and instances >= len(STARTERS)
    SCANNER.assert_clean()


# -- kvdr.toml ------------------------------------------------------------------------------

def _full_toml_sample() -> dict[str, Any]:
    """VALID_TOML with every section of the schema filled with a plausible value."""
    doc = tomllib.loads(VALID_TOML)
    doc["task_hub"] = "kvdr"
    doc["topology"]["local_region"] = "westus"
    doc["policies"] = {"deletions": "mirror", "deletion_grace_period": "7d",
                       "deletion_breaker_max_items": 50, "deletion_breaker_max_percent": 10,
                       "keys": "backup", "conflicts": "report", "soft_deleted_target": "recover",
                       "approval": "required"}
    doc["pacing"] = {"writes_per_10s": 250, "reads_per_10s": 3000, "key_creates_per_10s": 15,
                     "max_parallel": 4, "batch_size": 50}
    doc["objectives"] = {"rpo_seconds": 300, "rto_seconds": 900}
    doc["schedules"] = {"full_sync": "0 */15 * * * *", "drill": "0 0 3 1 * *"}
    doc["rotation"] = {"queue": "kvdr-rotation", "connection": "KvdrRotationQueue"}
    return doc


TOML_SAMPLES = [tomllib.loads(VALID_TOML), _full_toml_sample()]
TOML_KEYS = st.sampled_from([*TOML_SECTIONS, "task_hub", "regions", "tls",
                             *{k for keys in TOML_SECTIONS.values() for k in keys},
                             "vault_url", "resource_id", "geography"])


def _toml_key(key: str) -> str:
    return json.dumps(key)  # a quoted key (JSON escapes are TOML escapes)


def _toml_value(value: Any) -> str:
    if value is None:
        return '""'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # inf, -inf are TOML too
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return json.dumps(value)


def to_toml(doc: Any) -> str:
    """A generated document as TOML: top-level keys, every nested table inline."""
    if not isinstance(doc, dict):
        return f"value = {_toml_value(doc)}\n"
    return "".join(f"{_toml_key(str(k))} = {_toml_value(v)}\n" for k, v in doc.items())


@st.composite
def with_schema_key(draw: st.DrawFn, doc: Any) -> Any:
    """A known key of the schema, in a random table, with a generated value."""
    if isinstance(doc, dict):
        table = draw(st.sampled_from(sorted(doc))) if doc and draw(st.booleans()) else None
        target = doc[table] if table is not None and isinstance(doc[table], dict) else doc
        target[draw(TOML_KEYS)] = draw(JSON)
    return doc


TOML_DOCUMENTS = st.one_of(
    st.sampled_from(TOML_SAMPLES).flatmap(mutated).map(to_toml),
    st.sampled_from(TOML_SAMPLES).map(copy.deepcopy).flatmap(with_schema_key).map(to_toml),
    JSON.map(to_toml),
    st.text(max_size=300),
    st.sampled_from(TOML_SAMPLES).map(to_toml).flatmap(
        lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut])),
)


@pytest.mark.slow
def test_a_generated_kvdr_toml_raises_nothing_but_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "kvdr.toml"

    @given(document=TOML_DOCUMENTS)
    @example(document="[vaults]\neast = 1\n")
    @example(document="x = 1e400\n")
    def run(document: str) -> None:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
        TRIED["kvdr.toml (load_toml)"] += 1
        try:
            load_toml(path)
        except ConfigError as exc:
            assert exc.code in CODES and str(exc), exc.code

    run()


@pytest.mark.slow
def test_kvdr_status_with_a_bad_config_exits_2_in_one_line(tmp_path: Path) -> None:
    """Through the command line (a process per document: fewer of them)."""
    path = tmp_path / "kvdr.toml"
    seen: list[int] = []

    @given(document=TOML_DOCUMENTS)
    def run(document: str) -> None:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
        try:
            load_toml(path)
            return  # a document the loader takes is not bad input here
        except ConfigError:
            pass
        done = subprocess.run([sys.executable, "-m", "kvdr_cli", "status", "--config", str(path)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
        seen.append(done.returncode)
        TRIED["kvdr status --config"] += 1
        assert "Traceback" not in done.stderr + done.stdout, done.stderr[-500:]
        assert done.returncode == 2, (done.returncode, done.stderr[-500:])
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr[-500:]

    settings(max_examples=max(5, settings.default.max_examples // 5))(run)()
    assert seen
