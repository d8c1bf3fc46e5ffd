"""cosmonapse-plugin-echo: an example third-party plugin for Cosmonapse.

Installed, it registers two names the core finds by entry point, without ever importing
this package itself:

- the Neuron source ``echo`` (``cosmonapse.neurons``): ``Neuron(source="echo",
  transform="title")`` calls :func:`create_neuron` and returns an :class:`EchoNeuron`;
- the Engram kind ``kv`` (``cosmonapse.engrams``): :class:`KeyValueEngram`.

Both can also be imported and used directly::

    from cosmonapse_plugin_echo import KeyValueEngram, create_neuron
"""

from ._engram import KeyValueEngram
from ._neuron import TRANSFORMS, EchoNeuron, create_neuron

__version__ = "0.1.0"
__all__ = ["TRANSFORMS", "EchoNeuron", "KeyValueEngram", "create_neuron"]
