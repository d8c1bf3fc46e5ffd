"""``connect_synapse(url)``: one URL picks the transport."""

from __future__ import annotations

from urllib.parse import urlsplit

from .. import _plugins
from ..exceptions import UnknownPluginError
from .base import Synapse

__all__ = ["connect_synapse", "require_watchable"]


async def connect_synapse(url: str = "memory://", **options: object) -> Synapse:
    """Connect to the Synapse at ``url`` and return it, ready to use.

    The scheme picks the transport through the ``cosmonapse.synapses`` entry-point group:
    ``memory://`` (in process), ``cosmo://host:port`` (the dev synapse), ``nats://host:port``
    (NATS, with ``pip install "cosmonapse[nats]"``). Keyword options go to the transport.

    Raises :class:`~cosmonapse.UnknownPluginError` for a scheme nothing provides,
    :class:`~cosmonapse.PluginNotInstalledError` (with the pip command) for a known one
    that is not installed, and :class:`~cosmonapse.SynapseConnectError` when nothing
    answers at the URL.
    """
    if not isinstance(url, str) or "://" not in url:
        raise UnknownPluginError(
            f"not a synapse URL: {url!r} (expected scheme://..., for example memory:// or "
            "cosmo://127.0.0.1:7070)"
        )
    scheme = urlsplit(url).scheme.lower()
    factory = _plugins.load(_plugins.SYNAPSES, scheme)
    synapse = await factory(url, **options)
    if not isinstance(synapse, Synapse):
        raise TypeError(f"the {scheme!r} synapse factory returned {type(synapse).__name__}")
    return synapse


def require_watchable(url: str) -> None:
    """Raise ValueError, with what to do instead, when ``url`` names an in-process bus
    (``memory://``): a viewer in another process (the Doppler, Prism) would wait forever
    on a bus of its own that nobody else publishes to."""
    if isinstance(url, str) and urlsplit(url).scheme.lower() == "memory":
        raise ValueError(
            f"{url} is an in-process bus: it cannot be watched from another process. Start a "
            "dev synapse (cosmo synapse start memory), point your code and this viewer at "
            "cosmo://127.0.0.1:7070, or use nats://"
        )
