"""The ``cosmo`` console script: built-in commands plus the ``cosmonapse.cli`` plugins."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from . import __version__
from .commands import synapse
from .commands.dispatch import dispatch
from .commands.doppler import doppler
from .commands.record import record
from .commands.replay import replay
from .commands.trace import trace
from .plugins import mount_plugins

__all__ = ["app", "run"]

app = typer.Typer(
    name="cosmo",
    help="Cosmonapse from the terminal: start a dev synapse, watch Signals, dispatch TASKs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    epilog="Example: cosmo synapse start memory --namespace=quickstart",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cosmo {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Cosmonapse from the terminal: start a dev synapse, watch Signals, dispatch TASKs."""


app.add_typer(synapse.app, name="synapse")
app.command(
    "doppler",
    epilog="Example: cosmo doppler --url cosmo://127.0.0.1:7070 -n quickstart --type TASK --json",
)(doppler)
app.command(
    "dispatch",
    epilog="Example: cosmo dispatch -n quickstart --neuron worker-a --input "
    '\'{"prompt": "the sun"}\' --timeout 60',
)(dispatch)
app.command("record", epilog="Example: cosmo record -n team -o run.jsonl --max-signals 5000")(
    record
)
app.command("replay", epilog="Example: cosmo replay run.jsonl -n replay --speed 4")(replay)
app.command("trace", epilog="Example: cosmo trace run.jsonl 6RSEJFSG")(trace)
mount_plugins(
    app, reserved=frozenset({"synapse", "doppler", "dispatch", "record", "replay", "trace"})
)


def run() -> None:
    """Entry point of the ``cosmo`` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    app()
