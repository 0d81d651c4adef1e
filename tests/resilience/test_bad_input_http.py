"""Suite 5 (issue 13): bad input, property-based, the HTTP half (the ``kvdr.toml`` half is
``test_bad_input_config.py``; the generated inputs and the checks are ``bad_input_support``).
Hypothesis sends every HTTP endpoint of the function app, served by the local host, generated
bodies — arbitrary bytes, arbitrary JSON, near-valid mutations of valid samples, wrong content
types, huge strings, unicode, nulls — and generated instance ids, queries and methods.

Properties: never a 5xx; every 4xx carries ``{"error": {"code", "message"}}`` with a code from
``kvdr.error_codes``; no traceback text in any answer; no runbook started by a request answered
with a 4xx (runbook instances counted through the engine's management API before and after).
The vaults hold secrets with unique values (``support.leaks``; one of them named as the Event
Grid samples name their item, so valid deliveries copy it); every answer, every log record of
the run (DEBUG) and, at the end, the host's state dir, every orchestration (through the
management API) and the custom events are scanned for them: no hit (suite 6).

Sizes (tests/resilience/conftest.py): 50 inputs per endpoint, derandomized, in ``make test``;
``KVDR_RESILIENCE_SIZE=large`` tries 1,000 with a fresh seed.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from azure.durable_functions.models.utils import http_utils
from hypothesis import example, given
from hypothesis import strategies as st
from resilience.bad_input_support import (
    ALERTS,
    APPROVALS,
    CONTENT_TYPES,
    DEEP,
    GRID,
    HOSTILE_TEXT,
    INSTANCE_IDS,
    SCANNER,
    SEEDED_SECRETS,
    STARTERS,
    TRIED,
    bodies,
    check_answer,
    encode,
    grid_samples,
    post_checked,
    quoted,
    report_tried,
    runbooks,
    seed_secrets,
    send,
    settle,
)
from resilience.leaks_support import (
    ScanningLogHandler,
    scan_engine,
    scan_management_api,
    scanning_logs,
)

import function_app
from engine.host import LocalHost
from support import alert_samples
from support.sync import US_PAIR, SyncEnv, start_env

# -- the host and the properties ------------------------------------------------------------

@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncEnv, LocalHost]]:
    """east (primary) and west in the emulator; the real function app on a LocalHost that runs
    in west (so the alert webhook acts on alerts about east), approval required."""
    sections = {"topology": {"initial_primary": "east", "local_region": "west"},
                "policies": {"approval": "required"}}
    gen = start_env(tmp_path_factory.mktemp("bad-input"), US_PAIR, sections=sections)
    env = next(gen)
    seed_secrets(env)
    env.engine.stop()  # the host runs its own engine on another directory
    # the Durable client's aiohttp session is bound to the loop of the host that made it
    http_utils._client_session = None
    with LocalHost(function_app.app, state_dir=env.state_dir / "host", port=0) as host:
        yield env, host
        settle(host)
    gen.close()


@pytest.fixture(scope="module", autouse=True)
def scanned_logs() -> Iterator[ScanningLogHandler]:
    with scanning_logs(SCANNER, "host logs (DEBUG)") as handler:
        yield handler


@pytest.fixture(scope="module", autouse=True)
def report_inputs() -> Iterator[None]:
    started = time.monotonic()
    yield
    report_tried("bad input (HTTP)", started)


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


@pytest.mark.slow
def test_approve_and_reject_answer_any_body_and_instance_id_with_a_coded_4xx(hosted) -> None:
    _env, host = hosted

    @given(instance_id=INSTANCE_IDS, raw=bodies(APPROVALS), content_type=CONTENT_TYPES)
    @example(instance_id="full-sync", raw=DEEP, content_type="application/json")
    # the large run's finding: "." made the Durable client read the instance list (a 500)
    @example(instance_id=".", raw=encode(APPROVALS[0]), content_type="application/json")
    def run(instance_id: str, raw: bytes, content_type: str | None) -> None:
        post_checked(host, f"/api/runbooks/{quoted(instance_id)}/approve", raw, content_type,
                     label="/api/runbooks/{id}/approve")

    run()


@pytest.mark.slow
def test_the_read_endpoints_answer_any_query_and_method_without_a_5xx(hosted) -> None:
    _env, host = hosted
    paths = st.sampled_from(["/api/status", "/api/health", "/api/topology"]) | \
        INSTANCE_IDS.map(lambda i: "/api/runbooks/" + quoted(i))
    # a URL over the HTTP parser's 8 KiB line limit is refused by the server before any route
    # (a plain 400, as Kestrel's 414): not an answer of the app, so not tried here
    queries = st.dictionaries(st.text(max_size=10),
                              st.text(max_size=40) | HOSTILE_TEXT.filter(lambda t: len(t) < 999),
                              max_size=3).map(
        lambda q: urllib.parse.urlencode(q, errors="surrogatepass"))

    @given(path=paths, query=queries, raw=st.none() | st.binary(max_size=256),
           method=st.sampled_from(["GET", "GET", "POST", "PUT", "PATCH", "DELETE"]))
    # the large run's finding: "." and ".." made the Durable client read the instance list,
    # which it could not take for a status (TypeError: a 500)
    @example(path="/api/runbooks/.", query="", raw=None, method="GET")
    @example(path="/api/runbooks/%2e%2e", query="", raw=None, method="GET")
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
    @example(raw=encode(alert_samples.with_essentials(ALERTS[0], alertTargetIDs=["\ud800"])),
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
        post_checked(host, f"/api/runbooks/{starter}", encode(samples[0]), "application/json")
    for sample in grid_samples(env.config.region("east").vault_url)[:2]:
        post_checked(host, GRID, encode(sample), "application/json", label="event grid")
    settle(host)
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
