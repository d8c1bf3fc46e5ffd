"""Entry-point discovery: how installed packages add transports, Engram kinds and
Neurons (the groups are listed in docs/architecture.md, "Packages and entry points").

The core never imports a plugin by name: it asks ``importlib.metadata`` for the groups
below. A name that is known but not installed fails with the pip command that adds it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .exceptions import PluginNotInstalledError, UnknownPluginError

__all__ = [
    "CLI",
    "ENGRAMS",
    "GROUPS",
    "NEURONS",
    "SYNAPSES",
    "available",
    "installed_plugins",
    "load",
]

SYNAPSES = "cosmonapse.synapses"
NEURONS = "cosmonapse.neurons"
ENGRAMS = "cosmonapse.engrams"
CLI = "cosmonapse.cli"
GROUPS = (SYNAPSES, NEURONS, ENGRAMS, CLI)

_WHAT = {
    SYNAPSES: "synapse URL scheme",
    NEURONS: "Neuron source",
    ENGRAMS: "Engram kind",
    CLI: "cosmo command",
}

# Plugins this project publishes, so a missing one can say how to get it: the requirement,
# and the folder of this repository it is built from (these distributions are installed
# from a checkout: an unrelated project holds the `cosmonapse` name on the public index).
_KNOWN: dict[tuple[str, str], tuple[str, str]] = {
    (NEURONS, "huggingface"): ("cosmonapse-neuron-hf", "packages/neuron-hf"),
    (NEURONS, "hf"): ("cosmonapse-neuron-hf", "packages/neuron-hf"),
    (ENGRAMS, "vector"): ("cosmonapse-engram-vector", "packages/engram-vector"),
    (SYNAPSES, "nats"): ("cosmonapse[nats]", "packages/python-sdk[nats]"),
    (SYNAPSES, "nats+js"): ("cosmonapse[nats]", "packages/python-sdk[nats]"),
    (CLI, "prism"): ("cosmonapse-prism", "packages/prism"),
}

# The SDK's own entry points (its pyproject.toml declares them too), used when the package
# runs without installed metadata (for instance from a source checkout on sys.path).
_SDK = "cosmonapse"
_BUILTIN: dict[tuple[str, str], str] = {
    (SYNAPSES, "memory"): "cosmonapse.synapses.memory:connect",
    (SYNAPSES, "cosmo"): "cosmonapse.synapses.dev:connect",
    (SYNAPSES, "nats"): "cosmonapse.synapses.nats:connect",
    (SYNAPSES, "nats+js"): "cosmonapse.synapses.jetstream:connect",
    (ENGRAMS, "memory"): "cosmonapse.engram:InMemoryEngram",
    (ENGRAMS, "sqlite"): "cosmonapse.sqlite_engram:SqliteEngram",
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


def installed_plugins() -> dict[str, dict[str, str]]:
    """Every name installed in the Cosmonapse entry-point groups, and who provides it.

    Returns ``{group: {name: distribution}}`` with a key for each of the four groups
    (``cosmonapse.synapses``, ``cosmonapse.neurons``, ``cosmonapse.engrams``,
    ``cosmonapse.cli``; an empty dict when nothing is installed in one), names sorted, each
    mapped to the name of the distribution that registers it (``"cosmonapse"`` for the
    SDK's own). When two distributions register the same name, the one :func:`load` would
    use is shown. Nothing is imported, so a name listed here can still fail to load when its
    own dependency is missing; :func:`load` reports that.
    """
    found: dict[str, dict[str, str]] = {}
    for group in GROUPS:
        eps = _group(group)
        found[group] = {name: _distribution(eps[name]) for name in sorted(eps)}
    return found


def _distribution(ep: EntryPoint) -> str:
    # Only the SDK's own fallbacks (_BUILTIN) come without a distribution.
    return ep.dist.name if ep.dist is not None else _SDK


def install_hint(group: str, name: str) -> str | None:
    """The pip commands that provide ``name`` in ``group``, if this project knows it: from
    a checkout of this repository, and by distribution name."""
    known = _KNOWN.get((group, name))
    if known is None:
        return None
    package, folder = known
    return (
        f'pip install -e "{folder}" (from a checkout of this repository; '
        f'or pip install "{package}")'
    )


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
