"""``connect_synapse(url)``: one URL picks the transport."""

from __future__ import annotations

from urllib.parse import urlsplit

from .. import _plugins
from ..exceptions import SynapseURLError
from .base import Synapse

__all__ = ["connect_synapse", "require_watchable"]


async def connect_synapse(url: str = "memory://", **options: object) -> Synapse:
    """Connect to the Synapse at ``url`` and return it, ready to use.

    The scheme picks the transport through the ``cosmonapse.synapses`` entry-point group:
    ``memory://`` (in process), ``cosmo://host:port`` (the dev synapse), ``nats://host:port``
    (NATS, with ``pip install "cosmonapse[nats]"``). Keyword options go to the transport.

    Raises :class:`~cosmonapse.SynapseURLError` (a ``ValueError``) for something that is not a URL
    (``"junk"``, ``"127.0.0.1:7070"``, ``""``: no ``scheme://``), naming the installed
    schemes; :class:`~cosmonapse.UnknownPluginError` (a ``LookupError``) for a well-formed
    URL whose scheme nothing installed provides (``"bogus://host"``);
    :class:`~cosmonapse.PluginNotInstalledError` (with the pip command) for a known scheme
    that is not installed; and :class:`~cosmonapse.SynapseConnectError` when nothing
    answers at the URL.
    """
    scheme = urlsplit(url).scheme.lower() if isinstance(url, str) and "://" in url else ""
    if not scheme:
        raise SynapseURLError(_not_a_url(url))
    factory = _plugins.load(_plugins.SYNAPSES, scheme)
    synapse = await factory(url, **options)
    if not isinstance(synapse, Synapse):
        raise TypeError(f"the {scheme!r} synapse factory returned {type(synapse).__name__}")
    return synapse


def _not_a_url(url: object) -> str:
    schemes = _plugins.available(_plugins.SYNAPSES)
    hint = ""
    if isinstance(url, str) and url.strip().lower() in schemes:
        hint = f"; did you mean {url.strip().lower()}://?"
    return (
        f"not a synapse URL: {url!r} (expected scheme://..., for example memory:// or "
        f"cosmo://127.0.0.1:7070; installed schemes: {', '.join(schemes)}){hint}"
    )


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
