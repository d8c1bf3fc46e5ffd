"""``Neuron(source=...)``: Neurons provided by plugins."""

from __future__ import annotations

from typing import Any

from . import _plugins
from .axon import NeuronFn

__all__ = ["Neuron"]


def Neuron(source: str, **options: Any) -> NeuronFn:
    """Build a Neuron from the plugin registered for ``source``.

    ``Neuron(source="huggingface", endpoint=..., model=...)`` loads the
    ``cosmonapse.neurons`` entry point named ``huggingface`` and calls it with the
    remaining options. Raises :class:`~cosmonapse.PluginNotInstalledError` with the pip
    command when the source belongs to a package that is not installed, and
    :class:`~cosmonapse.UnknownPluginError` (naming the installed sources) otherwise.
    """
    factory = _plugins.load(_plugins.NEURONS, source)
    neuron: NeuronFn = factory(**options)
    return neuron
