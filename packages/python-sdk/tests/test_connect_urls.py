"""``connect_synapse``: something that is not a URL is a ValueError naming the installed
schemes; a URL with a scheme nothing provides stays an UnknownPluginError (LookupError)."""

from __future__ import annotations

import pytest
from cosmonapse import (
    SynapseURLError,
    UnknownPluginError,
    connect_synapse,
)


@pytest.mark.parametrize("url", ["junk", "", "127.0.0.1:7070", "://host", "memory", None])
async def test_not_a_url_is_a_value_error_naming_the_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="not a synapse URL") as info:
        await connect_synapse(url)
    assert type(info.value) is SynapseURLError
    message = str(info.value)
    assert repr(url) in message
    for scheme in ("memory", "cosmo", "nats", "nats+js"):
        assert scheme in message.rpartition("installed schemes: ")[2]
    # Code that caught the error this was before 0.2 still catches it.
    assert isinstance(info.value, UnknownPluginError)


async def test_a_bare_scheme_name_gets_a_hint() -> None:
    with pytest.raises(SynapseURLError, match=r"did you mean memory://\?"):
        await connect_synapse("memory")
    with pytest.raises(SynapseURLError) as info:
        await connect_synapse("junk")
    assert "did you mean" not in str(info.value)


async def test_an_unknown_scheme_is_a_lookup_error_not_a_value_error() -> None:
    with pytest.raises(UnknownPluginError, match="'bogus'") as info:
        await connect_synapse("bogus://127.0.0.1:1")
    assert isinstance(info.value, LookupError)
    assert not isinstance(info.value, ValueError)


async def test_a_url_still_connects() -> None:
    synapse = await connect_synapse("MEMORY://")
    await synapse.close()
