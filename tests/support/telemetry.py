"""Custom events as Azure Monitor would receive them: every log record sent to the process's
OpenTelemetry logger provider (installed here when none is — the provider
``configure_azure_monitor`` installs in Azure)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry._logs import get_logger_provider, set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from kvdr.telemetry import CUSTOM_EVENT_NAME_ATTRIBUTE


@pytest.fixture(scope="session")
def events() -> InMemoryLogRecordExporter:
    provider = get_logger_provider()
    if not isinstance(provider, LoggerProvider):
        provider = LoggerProvider()
        set_logger_provider(provider)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return exporter


def custom_events(exporter: InMemoryLogRecordExporter, name: str, run_id: str
                  ) -> list[dict[str, Any]]:
    """The attributes of the custom events ``name`` emitted for ``run_id``."""
    return [dict(r.log_record.attributes) for r in exporter.get_finished_logs()
            if r.log_record.attributes
            and r.log_record.attributes.get(CUSTOM_EVENT_NAME_ATTRIBUTE) == name
            and r.log_record.attributes.get("run_id") == run_id]
