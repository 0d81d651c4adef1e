"""Custom events become Application Insights EventData envelopes, through the installed
exporter's own conversion, without any network; telemetry is configured once, and only with a
connection string."""

from __future__ import annotations

from typing import Any

import pytest
from azure.monitor.opentelemetry.exporter.export.logs._exporter import (
    _convert_log_to_envelope,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from kvdr import services, telemetry
from kvdr.drill.report import DRILL_COMPLETED_EVENT
from kvdr.telemetry import check_dimensions, configure_telemetry, custom_event


@pytest.fixture
def captured() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    provider = LoggerProvider()
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def test_a_custom_event_becomes_an_event_data_envelope_with_its_dimensions(captured) -> None:
    provider, exporter = captured
    dims = {"result": "failed", "run_id": "drill-1", "regions": "east,west",
            "rto_measured_seconds": 1.25, "checks_failed": 1}
    custom_event(DRILL_COMPLETED_EVENT, dims, logger_provider=provider)

    (record,) = exporter.get_finished_logs()
    envelope = _convert_log_to_envelope(record)  # what AzureMonitorLogExporter.export sends
    assert envelope.name == "Microsoft.ApplicationInsights.Event"
    assert envelope.data.base_type == "EventData"
    event = envelope.data.base_data
    assert event.name == "kvdr.drill.completed"
    # customDimensions: every dimension, as text; the exporter's marker attributes are not
    assert {k: event.properties[k] for k in dims} == {k: str(v) for k, v in dims.items()}
    assert not any(k.startswith("microsoft.") for k in event.properties)
    # customMeasurements: the numbers, as numbers
    assert event.measurements == {"rto_measured_seconds": 1.25, "checks_failed": 1.0}


def test_without_a_configured_provider_an_event_is_a_no_op() -> None:
    custom_event(DRILL_COMPLETED_EVENT, {"result": "passed"})  # the API's default provider


@pytest.mark.parametrize("dims, error", [
    ({"value": {"nested": 1}}, TypeError),
    ({"ok": True}, TypeError),
    ({"missing": None}, TypeError),
    ({"nan": float("nan")}, ValueError),
    ({"microsoft.custom_event.name": "x"}, ValueError),
    ({"bad name": "x"}, ValueError),
    ({"long": "x" * 5000}, ValueError),
])
def test_dimensions_are_short_text_and_finite_numbers_only(dims: dict[str, Any],
                                                           error: type) -> None:
    with pytest.raises(error):
        check_dimensions(dims)


def test_an_invalid_event_emits_nothing(captured) -> None:
    provider, exporter = captured
    with pytest.raises(TypeError):
        custom_event(DRILL_COMPLETED_EVENT, {"secret": b"bytes"}, logger_provider=provider)
    assert exporter.get_finished_logs() == ()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@pytest.fixture
def fake_distro(monkeypatch) -> Recorder:
    import azure.monitor.opentelemetry as distro

    recorder = Recorder()
    monkeypatch.setattr(distro, "configure_azure_monitor", recorder)
    monkeypatch.setattr(telemetry, "_configured", False)
    return recorder


CONNECTION = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
              "IngestionEndpoint=https://example.invalid/")


def test_telemetry_is_configured_once_with_a_managed_identity(fake_distro) -> None:
    assert configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
                                "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555"})
    assert not configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION})
    (call,) = fake_distro.calls
    assert call["connection_string"] == CONNECTION
    from azure.identity import ManagedIdentityCredential

    assert isinstance(call["credential"], ManagedIdentityCredential)
    assert call["logger_name"] == telemetry.OTEL_LOGGER_NAME


def test_without_a_connection_string_nothing_is_configured(fake_distro) -> None:
    assert not configure_telemetry({})
    assert not configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": "  "})
    assert fake_distro.calls == []


def test_the_azure_runtime_configures_telemetry_when_it_is_built(fake_distro, monkeypatch
                                                                   ) -> None:
    def stop(env: Any) -> None:
        raise RuntimeError("settings read")  # enough: telemetry comes first

    monkeypatch.setattr(services, "load_app_settings", stop)
    with pytest.raises(RuntimeError):
        services.runtime_from_env({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION})
    assert [c["connection_string"] for c in fake_distro.calls] == [CONNECTION]
