"""``cosmo doppler``: stream the Signals of any synapse to the terminal (or to Prism)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from typing import Annotated

import typer
from cosmonapse import CosmonapseError, SignalType, connect_synapse
from cosmonapse.synapses import require_watchable

from ..console import LinePrinter, err, make_console
from ..doppler import Doppler
from ..plugins import load_prism
from ..render import SignalFilter
from ._common import DEFAULT_URL, Failure, UrlOption, fail, run, until_closed, wait_for_stop

__all__ = ["doppler"]

_TYPES = ", ".join(t.value for t in SignalType)


def _types(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        for name in value.split(","):
            name = name.strip().upper()
            if name not in SignalType.__members__:
                raise typer.BadParameter(f"unknown Signal type {name!r} (one of: {_TYPES})")
            out.append(name)
    return out


def doppler(
    url: UrlOption = DEFAULT_URL,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="The namespace to watch (default: every one)."),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            "-t",
            callback=_types,
            help="Show only this Signal type (repeat, or comma-separate, for several).",
        ),
    ] = None,
    trace: Annotated[
        str | None, typer.Option(help="Show only this trace (a full trace id or part of one).")
    ] = None,
    neuron: Annotated[
        str | None, typer.Option(help="Show only Signals to or from this participant id.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each Signal as one JSON line (NDJSON).")
    ] = False,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many Signals.")] = None,
    prism: Annotated[
        bool, typer.Option("--prism", help="Open Prism, the live browser view, instead.")
    ] = False,
    port: Annotated[int, typer.Option(help="--prism only: the local HTTP port.")] = 7071,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="--prism only: do not open a browser tab.")
    ] = False,
) -> None:
    """Stream every Signal crossing a synapse (cosmo:// or nats://) to this terminal.

    Lines show time, type, namespace, trace, from -> to and a payload preview; --json
    prints the Signals themselves, one per line, for jq and friends. Ctrl-C stops.
    """
    try:
        require_watchable(url)
    except ValueError as exc:
        fail(str(exc))
    if prism:
        _hand_over_to_prism(url, namespace, port, no_browser)
        return
    signal_filter = SignalFilter((SignalType(t) for t in types or []), trace=trace, neuron=neuron)
    run(_stream(url, namespace, signal_filter, as_json, count))


async def _stream(
    url: str, namespace: str | None, signal_filter: SignalFilter, as_json: bool, count: int | None
) -> None:
    try:
        synapse = await connect_synapse(url)
    except (CosmonapseError, ValueError) as exc:
        raise Failure(str(exc)) from None
    printer = LinePrinter(make_console()).start()
    try:
        watcher = Doppler(
            synapse, namespace, printer, signal_filter=signal_filter, as_json=as_json, limit=count
        )
        await watcher.start()
        where = f"namespace {namespace}" if namespace else "every namespace"
        err(f"watching {where} on {synapse.url}; Ctrl-C to stop", style="dim", prefix="")
        endings = {
            asyncio.ensure_future(watcher.wait()),
            asyncio.ensure_future(wait_for_stop()),
            lost := asyncio.ensure_future(until_closed(synapse)),
        }
        try:
            await asyncio.wait(endings, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in endings:
                task.cancel()
            await asyncio.gather(*endings, return_exceptions=True)
            if not synapse.closed:
                await watcher.stop()
        if lost.done() and not lost.cancelled():
            raise Failure(f"lost the synapse at {synapse.url} (see the log above)")
    finally:
        await synapse.close()
        printer.close()
    if printer.dropped:
        err(f"{printer.dropped} lines were not printed: the terminal did not keep up", prefix="")


PRISM_HINT = (
    'pip install -e "packages/prism" (from a checkout of this repository; '
    'or pip install "cosmonapse-prism")'
)


def _hand_over_to_prism(url: str, namespace: str | None, port: int, no_browser: bool) -> None:
    command = load_prism()
    if command is None:
        err(f"Prism is not installed; add it with: {PRISM_HINT}", prefix="")
        raise typer.Exit(1)
    if namespace is None:
        raise typer.BadParameter("--prism needs the namespace to show: add -n NAMESPACE")
    result = command(url=url, namespace=namespace, port=port, no_browser=no_browser)
    if inspect.isawaitable(result):

        async def wait() -> None:
            await result

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(wait())
    sys.stdout.flush()
