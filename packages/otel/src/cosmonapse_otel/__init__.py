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


def _show_public_names_here() -> None:
    """Every public class and function shows this package as its module (in reprs,
    tracebacks and pickles) rather than the private module that defines it; names added
    to ``__all__`` later get it too. Pickle still finds each one here: every name in
    ``__all__`` is importable from this package. A class's own annotations are resolved
    first, in the module that wrote them, so ``typing.get_type_hints`` keeps working (an
    annotation it cannot resolve stays a string)."""
    import contextlib
    import types
    import typing

    for name in __all__:
        public = globals()[name]
        if not isinstance(public, type | types.FunctionType):
            continue
        if not public.__module__.startswith(f"{__name__}."):
            continue
        own = vars(public).get("__annotations__")
        if isinstance(public, type) and own:
            with contextlib.suppress(Exception):
                hints = typing.get_type_hints(public, include_extras=True)
                public.__annotations__ = {key: hints[key] for key in own}
        public.__module__ = __name__


_show_public_names_here()
del _show_public_names_here
