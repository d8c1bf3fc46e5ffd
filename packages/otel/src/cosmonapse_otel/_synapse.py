"""TracedSynapse: a Synapse wrapper that sees every frame its Dendrites publish and
receive, and hands each to a :class:`~cosmonapse_otel._recorder.Recorder`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable

from cosmonapse import Synapse
from cosmonapse.synapses import MessageHandler, Subscription
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from ._forced import forced_tracer
from ._instrument import instrument
from ._recorder import Recorder

__all__ = ["TracedSynapse", "traced"]

_VERSION = "0.2.0"


class TracedSynapse(Synapse):
    """``inner`` with every frame published and delivered turned into spans.

    Publishing and delivery are the inner Synapse's, unchanged (errors included); a frame
    is looked at as ``publish`` is called (a failed publish ends the spans it started, with
    status ERROR) and before a subscriber's handler gets it.
    ``close()`` ends the spans still open, flushes the tracer provider and closes ``inner``.
    """

    def __init__(
        self,
        inner: Synapse,
        *,
        service_name: str,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self.max_frame_bytes = inner.max_frame_bytes
        # The inner transport decides; the Dendrite reads this from the instance.
        setattr(self, "plain_handlers", inner.plain_handlers)  # noqa: B010
        self.service_name = service_name
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        if tracer_provider is None and not isinstance(provider, TracerProvider):
            provider = instrument(service_name)  # no SDK provider yet: the OTLP one
        self.tracer_provider = provider
        tracer, ids = forced_tracer(provider, "cosmonapse_otel", _VERSION)
        self.recorder = Recorder(tracer, ids)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed or self.inner.closed

    @property
    def stats(self) -> dict[str, int]:
        return self.inner.stats

    async def publish(self, subject: str, data: bytes) -> None:
        recorder = self.recorder
        signal_id = recorder.published(data)
        try:
            await self.inner.publish(subject, data)
        except BaseException as exc:
            if signal_id is not None:
                recorder.not_published(signal_id, exc)
            raise

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        recorder = self.recorder
        observed: MessageHandler
        if _is_async(handler):

            async def observed_async(subject: str, data: bytes) -> None:
                recorder.received(data)
                result = handler(subject, data)
                if result is not None:
                    await result

            observed = observed_async
        else:

            def observed_plain(subject: str, data: bytes) -> Awaitable[None] | None:
                recorder.received(data)
                return handler(subject, data)

            observed = observed_plain
        return await self.inner.subscribe(subject, observed, queue_group=queue_group)

    async def close(self) -> None:
        """End open spans, flush the provider's spans, close ``inner``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.inner.close()
        finally:
            self.recorder.close()
            await asyncio.to_thread(self.flush)  # an export may take a while: not on the loop

    def flush(self, timeout_ms: int = 10_000) -> bool:
        """Export every span ended so far (the provider's ``force_flush``)."""
        provider = self.tracer_provider
        if isinstance(provider, TracerProvider):
            return provider.force_flush(timeout_ms)
        return True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<TracedSynapse over {self.inner!r} service={self.service_name!r} {state}>"


def _is_async(handler: object) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    return inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004


def traced(
    synapse: Synapse,
    *,
    service_name: str,
    tracer_provider: trace.TracerProvider | None = None,
) -> TracedSynapse:
    """Wrap ``synapse`` so the Dendrites using it emit OpenTelemetry spans.

    ``tracer_provider`` defaults to the global one; when that is not an SDK provider yet,
    :func:`instrument` installs one (OTLP/HTTP, configured by the ``OTEL_*`` environment,
    ``service_name`` as the resource's ``service.name``). A provider given must be the
    OpenTelemetry SDK's ``TracerProvider``; a TypeError says so otherwise.
    """
    return TracedSynapse(synapse, service_name=service_name, tracer_provider=tracer_provider)
