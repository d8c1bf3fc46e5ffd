"""cosmonapse-otel: OpenTelemetry traces of Cosmonapse workflows.

Wrap a Synapse with :func:`traced` (or connect with an ``otel+cosmo://`` style URL) and
every Signal the process's Dendrites publish and receive becomes part of a span: the
dispatch of a TASK, the Neuron's run (GenAI ``invoke_agent``), IMPRINT / RECALL, STOP
and rollback as events. Ids are derived from the Signals' own ids (:mod:`._ids`), so the
spans every process exports join one trace with no header propagation. See
docs/observability/otel.md.
"""

from __future__ import annotations

from ._ids import dispatch_span_id, otel_span_id, otel_trace_id, run_span_id, ulid_value
from ._instrument import instrument
from ._setup import connect
from ._synapse import TracedSynapse, traced

__version__ = "0.2.0"

__all__ = [
    "TracedSynapse",
    "connect",
    "dispatch_span_id",
    "instrument",
    "otel_span_id",
    "otel_trace_id",
    "run_span_id",
    "traced",
    "ulid_value",
]


from cosmonapse.public_names import show_as_public

show_as_public(__name__, globals(), __all__)
del show_as_public
