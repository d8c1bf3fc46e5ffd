"""An id generator that hands out the ids the recorder asks for, once each."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

__all__ = ["ForcedIds", "forced_tracer"]


class ForcedIds(IdGenerator):
    """Returns :attr:`next_trace_id` / :attr:`next_span_id` when set (and clears them),
    else asks ``fallback``; so a span started right after setting them gets those ids."""

    def __init__(self, fallback: IdGenerator) -> None:
        self.fallback = fallback
        self.next_trace_id = 0
        self.next_span_id = 0

    def generate_span_id(self) -> int:
        value, self.next_span_id = self.next_span_id, 0
        return value or self.fallback.generate_span_id()

    def generate_trace_id(self) -> int:
        value, self.next_trace_id = self.next_trace_id, 0
        return value or self.fallback.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return False


def forced_tracer(
    provider: trace.TracerProvider, name: str, version: str
) -> tuple[Tracer, ForcedIds]:
    """A tracer of ``provider`` whose ids the caller can force.

    Raises TypeError when ``provider`` is not the OpenTelemetry SDK's TracerProvider (the
    API's no-op provider cannot be told which ids to use).
    """
    if not isinstance(provider, TracerProvider):
        raise TypeError(
            "cosmonapse_otel needs the OpenTelemetry SDK's TracerProvider "
            f"(opentelemetry.sdk.trace.TracerProvider), got {type(provider).__name__}"
        )
    tracer = provider.get_tracer(name, version)
    if not isinstance(tracer, Tracer):  # a provider with OTEL_SDK_DISABLED set
        raise TypeError(f"the tracer provider gave a {type(tracer).__name__}, not an SDK Tracer")
    current = tracer.id_generator
    if isinstance(current, ForcedIds):
        return tracer, current
    ids = ForcedIds(current if current is not None else RandomIdGenerator())
    tracer.id_generator = ids
    return tracer, ids
