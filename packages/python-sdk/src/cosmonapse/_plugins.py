"""Entry-point discovery (DESIGN.md, "Wiring by entry points").

The core never imports a plugin by name: it asks ``importlib.metadata`` for the groups
below. A name that is known but not installed fails with the pip command that adds it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .exceptions import PluginNotInstalledError, UnknownPluginError

__all__ = ["ENGRAMS", "NEURONS", "SYNAPSES", "available", "load"]

SYNAPSES = "cosmonapse.synapses"
NEURONS = "cosmonapse.neurons"
ENGRAMS = "cosmonapse.engrams"
CLI = "cosmonapse.cli"

_WHAT = {
    SYNAPSES: "synapse URL scheme",
    NEURONS: "Neuron source",
    ENGRAMS: "Engram kind",
    CLI: "cosmo command",
}

# Plugins this project publishes, so a missing one can say how to get it.
_KNOWN: dict[tuple[str, str], str] = {
    (NEURONS, "huggingface"): "cosmonapse-neuron-hf",
    (NEURONS, "hf"): "cosmonapse-neuron-hf",
    (ENGRAMS, "vector"): "cosmonapse-engram-vector",
    (SYNAPSES, "nats"): "cosmonapse[nats]",
    (CLI, "prism"): "cosmonapse-prism",
}

# The SDK's own schemes, used when the package runs without installed metadata
# (for instance from a source checkout on sys.path).
_BUILTIN: dict[tuple[str, str], str] = {
    (SYNAPSES, "memory"): "cosmonapse.synapses.memory:connect",
    (SYNAPSES, "cosmo"): "cosmonapse.synapses.dev:connect",
    (SYNAPSES, "nats"): "cosmonapse.synapses.nats:connect",
}


def _group(group: str) -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=group)}
    for (g, name), value in _BUILTIN.items():
        if g == group and name not in found:
            found[name] = EntryPoint(name=name, value=value, group=group)
    return found


def available(group: str) -> list[str]:
    """Sorted names installed in an entry-point group."""
    return sorted(_group(group))


def install_hint(group: str, name: str) -> str | None:
    """The pip command that provides ``name`` in ``group``, if this project knows it."""
    package = _KNOWN.get((group, name))
    return f'pip install "{package}"' if package else None


def load(group: str, name: str) -> Any:
    """Load the object registered as ``name`` in ``group``.

    Raises :class:`~cosmonapse.PluginNotInstalledError` with a pip command when the name
    belongs to a package of this project that is not installed (or whose own dependency
    is missing), and :class:`~cosmonapse.UnknownPluginError` naming what is installed
    otherwise.
    """
    what = _WHAT.get(group, group)
    found = _group(group)
    ep = found.get(name)
    if ep is None:
        hint = install_hint(group, name)
        if hint is not None:
            raise PluginNotInstalledError(f"{what} {name!r} is not installed: {hint}")
        installed = ", ".join(sorted(found)) or "none"
        raise UnknownPluginError(f"unknown {what} {name!r} (installed: {installed})")
    try:
        return ep.load()
    except ImportError as exc:
        hint = install_hint(group, name)
        fix = f": {hint}" if hint else ""
        raise PluginNotInstalledError(
            f"{what} {name!r} cannot load because {exc.name or exc} is missing{fix}"
        ) from exc
