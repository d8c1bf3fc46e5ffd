"""Names and settings of the JetStream objects behind ``nats+js://``.

Everything is derived from the namespace (docs/transports/nats.md, "Durable work"):

* stream ``cosmonapse_<ns>_tasks`` on subjects ``cosmojs.<ns>.TASK.>``; a TASK is stored on
  ``cosmojs.<ns>.TASK.<neuron>.<trace>.<attempt>`` (so a STOP can purge its trace's stored
  TASKs by subject); work-queue retention, so an acknowledged (or terminated) TASK leaves
  the stream;
* one durable pull consumer per neuron id, ``task_<neuron>`` (filter
  ``cosmojs.<ns>.TASK.<neuron>.>``), shared by every host of it;
* KV bucket ``cosmonapse_<ns>_stopped``: one key per STOPped trace, kept ``max_age``.

The durable subjects sit outside ``cosmonapse.>`` on purpose: a Doppler watching
``cosmonapse.<ns>.>`` sees each TASK once, on its core subject.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "DURABLE_PREFIX",
    "MAX_PURGED_ATTEMPTS",
    "JetStreamOptions",
    "consumer_filter",
    "consumer_name",
    "durable_subject",
    "purge_filters",
    "stream_subjects",
    "token",
]

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


MAX_PURGED_ATTEMPTS = 32
"""A STOP bounded to attempt ``k`` purges the stored TASKs of attempts 1..k, at most this
many; the stop record catches the rest when they are pulled."""


def stream_subjects(namespace: str) -> str:
    return f"{DURABLE_PREFIX}.{namespace}.TASK.>"


def durable_subject(namespace: str, neuron_id: str, trace_id: str, attempt: int) -> str:
    """Where a TASK to ``neuron_id`` on ``trace_id`` (attempt ``attempt``) is stored."""
    return f"{DURABLE_PREFIX}.{namespace}.TASK.{token(neuron_id)}.{token(trace_id)}.{attempt}"


def consumer_filter(namespace: str, neuron_id: str) -> str:
    return f"{DURABLE_PREFIX}.{namespace}.TASK.{token(neuron_id)}.>"


def purge_filters(namespace: str, trace_id: str, bound: int | None) -> list[str]:
    """The subjects a STOP of ``trace_id`` purges: every attempt (``bound`` None), or
    attempts 1..``bound`` (at most :data:`MAX_PURGED_ATTEMPTS`)."""
    base = f"{DURABLE_PREFIX}.{namespace}.TASK.*.{token(trace_id)}"
    if bound is None:
        return [base + ".*"]
    return [f"{base}.{n}" for n in range(1, min(bound, MAX_PURGED_ATTEMPTS) + 1)]


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
