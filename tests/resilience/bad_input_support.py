"""Shared by the bad-input suite (issue 13, suite 5: ``test_bad_input_http.py`` and
``test_bad_input_config.py``): the generated inputs (hostile text, arbitrary JSON, near-valid
mutations of valid samples, raw edge cases), the valid samples they start from, and the checks
every HTTP answer of the local host must pass (never a 5xx, a coded 4xx envelope, no traceback,
no runbook started by a 4xx, no seeded value in any answer)."""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from engine.host import LocalHost
from kvdr.catalogue import Orchestrator
from kvdr.error_codes import ERROR_CODES
from support import alert_samples
from support.leaks import LeakScanner, unique_secret_value
from support.sync import SyncEnv

CODES = frozenset(spec.code for spec in ERROR_CODES)
RUNBOOKS = frozenset({Orchestrator.FULL_SYNC, Orchestrator.FAILOVER, Orchestrator.DRILL,
                      Orchestrator.RESTORE})
# inputs sent per endpoint, and the answers by status class ("2xx", "4xx", "5xx"): each test
# module prints and clears them (report_tried): the README's figures
TRIED: Counter[str] = Counter()
ANSWERS: Counter[str] = Counter()
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


def encode(value: Any) -> bytes:
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
        JSON.map(encode),
        st.sampled_from(samples).flatmap(mutated).map(encode),
        st.sampled_from(samples).map(lambda s: encode(s)[: len(encode(s)) // 2]),
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


# -- the host's answers ------------------------------------------------------------------

def seed_secrets(env: SyncEnv) -> None:
    for i, (name, region) in enumerate(sorted(SEEDED_SECRETS.items())):
        value = unique_secret_value(f"bad-input-{name}", exotic=i % 2 == 0)
        SCANNER.add(value)
        with env.emu.secret_client(region) as client:
            client.set_secret(name, value)


def settle(host: LocalHost, seconds: float = 120) -> None:
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
    ANSWERS[f"{status // 100}xx"] += 1
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


# -- instance ids ---------------------------------------------------------------------

# (a URL over the HTTP parser's 8 KiB line limit is refused before any route: not tried)
INSTANCE_IDS = (st.text(min_size=1, max_size=120)
                | HOSTILE_TEXT.filter(lambda t: 0 < len(t) < 999)
                | st.sampled_from(["full-sync", "drill", "failover-x", "restore-x",
                                   # dot segments and a "%" escape: the Durable client's URL
                                   # read "." as the instance list (a 500) and "%66" as "f"
                                   ".", "..", "%2e", "%66ull-sync"]))


def quoted(instance_id: str) -> str:
    return urllib.parse.quote(instance_id, safe="", errors="surrogatepass")


def report_tried(title: str, started: float) -> None:
    """Print the inputs sent per endpoint, their total, the answers by status class and the
    time since ``started`` (monotonic), then clear the counters for the next module."""
    if not TRIED:
        return
    per = ", ".join(f"{k} {n}" for k, n in sorted(TRIED.items()))
    answers = ", ".join(f"{k} {n}" for k, n in sorted(ANSWERS.items()))
    print(f"\n{title}: {per}; total {sum(TRIED.values())}; answers {answers or '-'}; "
          f"5xx {ANSWERS.get('5xx', 0)}; {time.monotonic() - started:.0f} s")
    TRIED.clear()
    ANSWERS.clear()
