"""A snapshot of the durable layer's JetStream objects, for ``cosmo synapse view``
(docs/transports/nats.md, "Durable work")."""

from __future__ import annotations

from typing import Any

import nats.js.errors

from .jetstream import connect

__all__ = ["jetstream_state"]


async def jetstream_state(url: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """One row per TASK stream (``cosmonapse_<ns>_tasks``) and consumer: ``stream``,
    ``consumer``, ``stored`` (messages in the stream), ``pending`` (not yet delivered),
    ``ack_pending`` (delivered, not acknowledged), ``redelivered`` and ``acked``."""
    if url.lower().startswith(("nats://", "tls://")):
        url = "nats+js" + ("+tls" if url.lower().startswith("tls") else "") + url[url.index(":") :]
    synapse = await connect(url, reconnect=False)
    rows: list[dict[str, Any]] = []
    try:
        js = synapse.js
        try:
            streams = await js.streams_info()
        except nats.js.errors.Error as exc:
            raise ValueError(f"no JetStream at {synapse.url}: {exc}") from None
        for info in streams:
            name = info.config.name or ""
            if not (name.startswith("cosmonapse_") and name.endswith("_tasks")):
                continue
            if namespace is not None and name != synapse.options.stream_name(namespace):
                continue
            consumers = await js.consumers_info(name)
            base = {"stream": name, "stored": info.state.messages}
            if not consumers:
                rows.append({**base, "consumer": None})
            for c in consumers:
                rows.append(
                    {
                        **base,
                        "consumer": c.name,
                        "pending": c.num_pending,
                        "ack_pending": c.num_ack_pending,
                        "redelivered": c.num_redelivered,
                        "acked": c.ack_floor.stream_seq if c.ack_floor else 0,
                    }
                )
    finally:
        await synapse.close()
    return rows
