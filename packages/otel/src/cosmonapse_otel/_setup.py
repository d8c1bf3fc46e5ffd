"""The ``otel+<scheme>://`` synapse URLs: the transport, traced."""

from __future__ import annotations

from cosmonapse import Synapse, connect_synapse
from opentelemetry import trace

from ._instrument import instrument, service_name_or_default
from ._synapse import TracedSynapse, traced

__all__ = ["PREFIX", "connect"]

PREFIX = "otel+"
"""``otel+cosmo://host:port`` is ``cosmo://host:port`` with tracing on."""


async def connect(url: str, **options: object) -> Synapse:
    """The ``cosmonapse.synapses`` factory of ``otel+<scheme>://``: connect to
    ``<scheme>://...`` and wrap it with :func:`traced` on the global provider, installed by
    :func:`instrument` when there is none. ``service_name`` and ``tracer_provider`` options
    are taken here; every other option goes to the inner transport."""
    if not url.lower().startswith(PREFIX):
        raise ValueError(f"not an {PREFIX}<scheme>:// URL: {url!r}")
    service = options.pop("service_name", None)
    provider = options.pop("tracer_provider", None)
    name = service_name_or_default(service if isinstance(service, str) else None)
    if provider is None:
        provider = instrument(name)
    if not isinstance(provider, trace.TracerProvider):
        raise TypeError(f"tracer_provider must be a TracerProvider, got {type(provider).__name__}")
    inner = await connect_synapse(url[len(PREFIX) :], **options)
    wrapped: TracedSynapse = traced(inner, service_name=name, tracer_provider=provider)
    return wrapped
