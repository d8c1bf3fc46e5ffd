"""Public names of cosmonapse_cli show the package as their module (as httpx and
anyio do) in reprs, tracebacks and pickles, and still pickle."""

from __future__ import annotations

import pickle
import traceback
import types
import typing

import cosmonapse_cli

# Pinned: every public class and function, and the module a user sees for it.
SHOWN = {
    "BrokerError": "cosmonapse_cli",
    "ConfigError": "cosmonapse_cli",
    "CosmoError": "cosmonapse_cli",
    "DevSynapseServer": "cosmonapse_cli",
    "LocalSynapse": "cosmonapse_cli",
    "ProtocolError": "cosmonapse_cli",
    "ServerLimits": "cosmonapse_cli",
}


def test_public_names_show_the_package() -> None:
    public = {
        name: getattr(cosmonapse_cli, name).__module__
        for name in cosmonapse_cli.__all__
        if isinstance(getattr(cosmonapse_cli, name), type | types.FunctionType)
    }
    assert public == SHOWN
    for name in public:  # annotations resolved where they were written
        typing.get_type_hints(getattr(cosmonapse_cli, name))
    assert repr(cosmonapse_cli.DevSynapseServer) == "<class 'cosmonapse_cli.DevSynapseServer'>"


def test_errors_show_and_pickle() -> None:
    error = cosmonapse_cli.ConfigError("bad --port")
    shown = traceback.format_exception_only(error)
    assert shown == ["cosmonapse_cli.ConfigError: bad --port\n"]
    for cls in (
        cosmonapse_cli.CosmoError,
        cosmonapse_cli.BrokerError,
        cosmonapse_cli.ProtocolError,
    ):
        back = pickle.loads(pickle.dumps(cls("boom")))
        assert type(back) is cls and str(back) == "boom"
