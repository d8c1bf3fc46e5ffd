"""The public API of cosmonapse-cli is what its ``__init__`` exports, and nothing else."""

from __future__ import annotations

import cosmonapse_cli
import cosmonapse_cli.server


def test_public_names() -> None:
    assert sorted(cosmonapse_cli.__all__) == [
        "BrokerError",
        "ConfigError",
        "CosmoError",
        "DevSynapseServer",
        "LocalSynapse",
        "ProtocolError",
        "ServerLimits",
        "__version__",
    ]
    assert sorted(cosmonapse_cli.server.__all__) == [
        "DEFAULT_HOST",
        "DEFAULT_MAX_LINE_BYTES",
        "DEFAULT_MAX_OUTBOUND_BYTES",
        "DEFAULT_PORT",
        "DevSynapseServer",
        "LocalSynapse",
        "ServerLimits",
        "is_loopback",
    ]
    for name in cosmonapse_cli.__all__:
        assert hasattr(cosmonapse_cli, name)
