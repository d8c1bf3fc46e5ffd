"""The public API is what ``cosmonapse_prism.__all__`` says, and nothing moves by accident."""

from __future__ import annotations

import inspect

import cosmonapse
import cosmonapse_prism
from cosmonapse_prism import cli

EXPECTED = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "PrismError",
    "PrismServer",
    "PrismStartError",
    "SignalHub",
    "TooManyViewersError",
    "ViewerFeed",
    "__version__",
    "create_app",
    "watch",
]


def test_all_is_pinned():
    assert sorted(cosmonapse_prism.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert hasattr(cosmonapse_prism, name), name


def test_defaults_are_safe():
    assert cosmonapse_prism.DEFAULT_HOST == "127.0.0.1"
    assert cosmonapse_prism.DEFAULT_PORT == 7071
    assert inspect.signature(cosmonapse_prism.watch).parameters["open_browser"].default is False


def test_exceptions_share_the_sdk_root():
    assert issubclass(cosmonapse_prism.PrismError, cosmonapse.CosmonapseError)
    assert issubclass(cosmonapse_prism.PrismStartError, cosmonapse_prism.PrismError)
    assert issubclass(cosmonapse_prism.PrismStartError, OSError)
    assert issubclass(cosmonapse_prism.TooManyViewersError, cosmonapse_prism.PrismError)


def test_cli_entry_point_is_declared():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="cosmonapse.cli") if e.name == "prism"]
    assert ep.value == "cosmonapse_prism.cli:command"
    assert ep.load() is cli.command


def test_version_matches_the_distribution():
    from importlib.metadata import version

    assert cosmonapse_prism.__version__ == version("cosmonapse-prism")
