"""The public surface, pinned: ``__all__``, signatures, the entry points, the modules
public names show."""

from __future__ import annotations

import inspect
import pickle
import types
from importlib.metadata import entry_points

import cosmonapse_otel
from cosmonapse import Synapse
from cosmonapse._plugins import SYNAPSES, load
from cosmonapse_otel import TracedSynapse, connect, instrument, traced

SCHEMES = ["otel+cosmo", "otel+memory", "otel+nats", "otel+nats+js"]


def test_public_api_is_pinned() -> None:
    assert cosmonapse_otel.__all__ == [
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
    assert cosmonapse_otel.__version__ == "0.2.0"
    assert issubclass(TracedSynapse, Synapse)
    public = {name for name in vars(TracedSynapse) if not name.startswith("_")}
    assert public == {"closed", "stats", "publish", "subscribe", "close", "flush"}


def _params(fn: object) -> list[tuple[str, str, object]]:
    return [(p.name, p.kind.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_signatures_are_pinned() -> None:
    empty = inspect.Parameter.empty
    assert _params(traced) == [
        ("synapse", "POSITIONAL_OR_KEYWORD", empty),
        ("service_name", "KEYWORD_ONLY", empty),
        ("tracer_provider", "KEYWORD_ONLY", None),
    ]
    assert _params(TracedSynapse) == [
        ("inner", "POSITIONAL_OR_KEYWORD", empty),
        ("service_name", "KEYWORD_ONLY", empty),
        ("tracer_provider", "KEYWORD_ONLY", None),
    ]
    assert _params(instrument) == [
        ("service_name", "POSITIONAL_OR_KEYWORD", None),
        ("endpoint", "KEYWORD_ONLY", None),
        ("schedule_delay_ms", "KEYWORD_ONLY", None),
    ]
    assert _params(connect) == [
        ("url", "POSITIONAL_OR_KEYWORD", empty),
        ("options", "VAR_KEYWORD", empty),
    ]


def test_the_url_schemes_are_entry_points_of_this_distribution() -> None:
    found = sorted(
        ep.name for ep in entry_points(group="cosmonapse.synapses") if ep.name.startswith("otel+")
    )
    assert found == SCHEMES
    for ep in entry_points(group="cosmonapse.synapses"):
        if ep.name in SCHEMES:
            assert ep.value == "cosmonapse_otel:connect"
            assert ep.dist is not None and ep.dist.name == "cosmonapse-otel"
    assert load(SYNAPSES, "otel+cosmo") is connect


def test_public_names_show_the_package() -> None:
    shown = {
        name: getattr(cosmonapse_otel, name).__module__
        for name in cosmonapse_otel.__all__
        if isinstance(getattr(cosmonapse_otel, name), type | types.FunctionType)
    }
    assert shown == dict.fromkeys(cosmonapse_otel.__all__, "cosmonapse_otel")
    assert repr(TracedSynapse) == "<class 'cosmonapse_otel.TracedSynapse'>"
    assert pickle.loads(pickle.dumps(traced)) is traced


def test_the_core_never_imports_this_package() -> None:
    import subprocess
    import sys

    code = "import cosmonapse, sys; print('cosmonapse_otel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
