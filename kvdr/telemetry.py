"""Application Insights custom events through the Azure Monitor OpenTelemetry distro.

How a custom event is made (checked in azure-monitor-opentelemetry-exporter 1.0.0b58,
``export/logs/_exporter.py``): the log exporter turns an OpenTelemetry *log record* whose
attributes hold ``microsoft.custom_event.name`` into an ``EventData`` envelope (a
``customEvents`` row) named by that attribute. Every other attribute becomes a property
(``customDimensions``, as text); a JSON object of numbers under ``microsoft.custom_measurements``
becomes ``customMeasurements``. So :func:`custom_event` emits one such record through the
OpenTelemetry Logs API, to the logger provider ``configure_azure_monitor`` installed — no
stdlib logging level or handler decides whether the event is sent.

Dimensions are names, counts and durations: str or number only, never a secret value
(decision 3). When telemetry is not configured (locally) the global provider is a no-op.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry._logs import LoggerProvider

logger = logging.getLogger(__name__)

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
CLIENT_ID_SETTING = "AZURE_CLIENT_ID"
# the exporter's own attribute names (azure.monitor.opentelemetry.exporter._constants)
CUSTOM_EVENT_NAME_ATTRIBUTE = "microsoft.custom_event.name"
CUSTOM_MEASUREMENTS_ATTRIBUTE = "microsoft.custom_measurements"
# The distro attaches its stdlib logging handler to this logger only: the Functions host already
# ships the worker's log lines to Application Insights, and they must not arrive twice.
OTEL_LOGGER_NAME = "kvdr.otel"
EVENT_SCOPE = "kvdr.telemetry"

MAX_DIMENSIONS = 50
MAX_TEXT_CHARS = 1024
FLUSH_TIMEOUT_MILLIS = 10_000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")

_configured = False
_configure_lock = threading.Lock()


def configure_telemetry(env: Mapping[str, str]) -> bool:
    """Send traces, metrics and custom events to Application Insights when
    ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; once per process. The resource has
    local authentication off, so the exporter authenticates with the app's managed identity
    (the user-assigned one named by ``AZURE_CLIENT_ID`` when set). Returns True when this call
    configured it; a no-op (False) without a connection string or on a second call."""
    global _configured
    connection_string = (env.get(CONNECTION_STRING_SETTING) or "").strip()
    if not connection_string:
        return False
    with _configure_lock:
        if _configured:
            return False
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry import configure_azure_monitor

        client_id = (env.get(CLIENT_ID_SETTING) or "").strip()
        credential = (ManagedIdentityCredential(client_id=client_id) if client_id
                      else ManagedIdentityCredential())
        configure_azure_monitor(connection_string=connection_string, credential=credential,
                                logger_name=OTEL_LOGGER_NAME)
        _configured = True
    logger.info("telemetry: Azure Monitor configured (managed identity%s)",
                " " + client_id if client_id else "")
    return True


def check_dimensions(dimensions: Mapping[str, Any]) -> dict[str, str | int | float]:
    """Dimensions as the event carries them; raises TypeError/ValueError for anything but
    short text and finite numbers under plain names (a programming error, never data)."""
    if len(dimensions) > MAX_DIMENSIONS:
        raise ValueError(f"at most {MAX_DIMENSIONS} dimensions, got {len(dimensions)}")
    checked: dict[str, str | int | float] = {}
    for key, value in dimensions.items():
        if not isinstance(key, str) or not _NAME.match(key) or key.startswith("microsoft."):
            raise ValueError(f"bad dimension name {key!r}")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"dimension {key} must be text or a number, "
                            f"not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"dimension {key} is not a finite number")
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise ValueError(f"dimension {key} is longer than {MAX_TEXT_CHARS} characters")
        checked[key] = value
    return checked


def custom_event(name: str, dimensions: Mapping[str, Any], *,
                 logger_provider: LoggerProvider | None = None,
                 flush_timeout_millis: int | None = FLUSH_TIMEOUT_MILLIS) -> None:
    """Emit the Application Insights custom event ``name`` with ``dimensions`` (text and
    numbers: names, counts, durations — never a value). Numbers are also sent as
    measurements, so queries can aggregate them without parsing text. The provider is then
    flushed (unless ``flush_timeout_millis`` is None): the exporter batches records for
    seconds, and a Functions instance may be recycled before a rare event leaves it."""
    from opentelemetry._logs import SeverityNumber, get_logger_provider

    if not _NAME.match(name):
        raise ValueError(f"bad event name {name!r}")
    dims = check_dimensions(dimensions)
    numbers = {k: v for k, v in dims.items() if not isinstance(v, str)}
    attributes: dict[str, Any] = {**dims, CUSTOM_EVENT_NAME_ATTRIBUTE: name}
    if numbers:
        attributes[CUSTOM_MEASUREMENTS_ATTRIBUTE] = json.dumps(numbers, sort_keys=True)
    provider = logger_provider or get_logger_provider()
    provider.get_logger(EVENT_SCOPE).emit(body=name, severity_number=SeverityNumber.INFO,
                                          severity_text="INFO", attributes=attributes)
    flush = getattr(provider, "force_flush", None)  # the API's no-op provider has none
    if flush is not None and flush_timeout_millis is not None:
        flush(flush_timeout_millis)
    logger.info("custom event %s %s", name, json.dumps(dims, sort_keys=True))
