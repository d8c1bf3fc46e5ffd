"""Names and settings of the JetStream objects behind ``nats+js://``.

Everything is derived from the namespace (docs/transports/nats.md, "Durable work"):

* stream ``cosmonapse_<ns>_tasks`` on subjects ``cosmojs.<ns>.TASK.>``, one durable subject
  per neuron id, ``cosmojs.<ns>.TASK.<neuron>``; work-queue retention, so an acknowledged
  (or terminated) TASK leaves the stream;
* one durable pull consumer per neuron id, ``task_<neuron>``, shared by every host of it;
* KV bucket ``cosmonapse_<ns>_stopped``: one key per STOPped trace, kept ``max_age``.

The durable subjects sit outside ``cosmonapse.>`` on purpose: a Doppler watching
``cosmonapse.<ns>.>`` sees each TASK once, on its core subject.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["DURABLE_PREFIX", "JetStreamOptions", "consumer_name", "durable_subject", "token"]

DURABLE_PREFIX = "cosmojs"
DURABLE_HEADER = "Cosmo-Durable"
"""Set on the core copy of a stored TASK: ``nats+js`` hosts take it from the stream instead."""

_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def token(name: str) -> str:
    """``name`` as a subject token and consumer-name part: itself when it is made of
    letters, digits, ``_`` and ``-``, otherwise ``h`` + a stable hash of it."""
    if _SAFE.fullmatch(name):
        return name
    return "h" + hashlib.sha256(name.encode()).hexdigest()[:24]


def durable_subject(namespace: str, neuron_id: str) -> str:
    return f"{DURABLE_PREFIX}.{namespace}.TASK.{token(neuron_id)}"


def consumer_name(neuron_id: str) -> str:
    return f"task_{token(neuron_id)}"


@dataclass(frozen=True, slots=True)
class JetStreamOptions:
    """The durable layer's settings (``connect_synapse("nats+js://...", **options)``).

    ``ack_wait`` (s) is how long a host that stopped answering keeps a TASK before it is
    redelivered; a live run extends it every ``ack_wait / 3``. ``max_age`` (s) bounds how
    long a TASK waits in the stream and how long a STOP is remembered.
    """

    ack_wait: float = 30.0
    max_age: float = 24 * 3600.0
    replicas: int = 1
    storage: str = "file"  # or "memory"
    max_in_flight: int = 256  # TASKs of one neuron id this host holds unacknowledged
    seen_window: int = 16_384  # TASK ids and reply parents remembered for dedup
    stream: str | None = None  # overrides cosmonapse_<ns>_tasks
    stop_bucket: str | None = None  # overrides cosmonapse_<ns>_stopped

    def stream_name(self, namespace: str) -> str:
        return self.stream or f"cosmonapse_{token(namespace)}_tasks"

    def bucket_name(self, namespace: str) -> str:
        return self.stop_bucket or f"cosmonapse_{token(namespace)}_stopped"

    @classmethod
    def pop_from(cls, options: dict[str, object]) -> JetStreamOptions:
        """Take this layer's keys out of ``options`` (the rest go to the NATS client)."""
        values: dict[str, object] = {}
        for key in cls.__dataclass_fields__:
            if key in options:
                values[key] = options.pop(key)
        opts = cls(**values)  # type: ignore[arg-type]
        if not opts.ack_wait > 0 or not opts.max_age > 0:
            raise ValueError("ack_wait and max_age must be positive")
        if opts.replicas < 1:
            raise ValueError(f"replicas must be 1 or more, not {opts.replicas}")
        if opts.storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', not {opts.storage!r}")
        if opts.max_in_flight < 1 or opts.seen_window < 1:
            raise ValueError("max_in_flight and seen_window must be at least 1")
        return opts
