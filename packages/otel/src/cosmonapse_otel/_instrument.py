"""``instrument()``: the process's global SDK tracer provider, exporting over OTLP/HTTP
(protobuf) as the standard ``OTEL_*`` environment says."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["instrument", "service_name_or_default"]

_DEFAULT_SERVICE = "cosmonapse"


def service_name_or_default(service_name: str | None) -> str:
    return service_name or os.environ.get("OTEL_SERVICE_NAME") or _DEFAULT_SERVICE


def instrument(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    schedule_delay_ms: int | None = None,
) -> TracerProvider:
    """Install (once per process) a global SDK TracerProvider that exports spans over
    OTLP/HTTP (protobuf) with a BatchSpanProcessor, and return it.

    ``endpoint`` is the collector's base URL (``http://localhost:4318``); spans go to its
    ``/v1/traces``. Without it the exporter reads the standard environment:
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL), else
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``, else ``http://localhost:4318/v1/traces``;
    headers, timeout and compression come from the ``OTEL_EXPORTER_OTLP_*`` variables too.
    ``service_name`` defaults to ``OTEL_SERVICE_NAME``, else ``"cosmonapse"``;
    ``schedule_delay_ms`` to ``OTEL_BSP_SCHEDULE_DELAY`` (5000 ms). When an SDK provider is
    already global, it is returned unchanged (OpenTelemetry sets the global provider once).
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    resource = Resource.create({"service.name": service_name_or_default(service_name)})
    provider = TracerProvider(resource=resource)
    url = endpoint.rstrip("/") + "/v1/traces" if endpoint else None
    processor = (
        BatchSpanProcessor(OTLPSpanExporter(endpoint=url), schedule_delay_millis=schedule_delay_ms)
        if schedule_delay_ms is not None
        else BatchSpanProcessor(OTLPSpanExporter(endpoint=url))
    )
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider
