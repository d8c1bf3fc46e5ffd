"""``cosmo synapse start`` and ``cosmo synapse view``."""

from __future__ import annotations

import errno
from enum import StrEnum
from typing import Annotated

import orjson
import typer
from cosmonapse import CosmonapseError, connect_synapse
from cosmonapse.subjects import validate_namespace
from cosmonapse.synapses.dev import DevSynapse
from cosmonapse.synapses.dev import connect as dev_connect
from rich.table import Table

from .. import nats_broker
from ..console import LinePrinter, err, make_console
from ..doppler import Doppler
from ..exceptions import ConfigError, CosmoError
from ..render import banner
from ..server import (
    DEFAULT_HOST,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_OUTBOUND_BYTES,
    DEFAULT_PORT,
    DevSynapseServer,
    ServerLimits,
)
from ._common import Failure, UrlOption, run, wait_for_stop

__all__ = ["app"]

app = typer.Typer(
    name="synapse",
    help="Start a synapse (the bus) or look inside a running dev synapse.",
    epilog="Example: cosmo synapse start memory --namespace=quickstart",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_LIMITS = ServerLimits()  # the defaults the options below show

DEV_TRANSPORT = "TCP + NDJSON (single-host dev only)"
DEV_TRANSPORT_WITH_TOKEN = "TCP + NDJSON, clients must present the token (not encrypted)"


class Kind(StrEnum):
    memory = "memory"
    nats = "nats"


def _namespace(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_namespace(value)
    except CosmonapseError as exc:
        raise typer.BadParameter(str(exc)) from None


NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        callback=_namespace,
        help="The namespace to stream to this terminal (default: every namespace).",
    ),
]


@app.command(
    "start",
    epilog="Example: cosmo synapse start memory --namespace=quickstart  "
    "(then connect with connect_synapse('cosmo://127.0.0.1:7070'))",
)
def start(
    kind: Annotated[
        Kind, typer.Argument(help="memory: the dev synapse in this process; nats: a NATS server.")
    ],
    namespace: NamespaceOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            show_default=False,
            help=f"memory only: the address to listen on (default {DEFAULT_HOST}). Anything "
            "but loopback requires --token (or COSMO_TOKEN).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            show_default=False,
            help=f"memory only: the port to listen on (default {DEFAULT_PORT}); 0 picks a "
            "free one.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print the banner only, not every Signal.")
    ] = False,
    broker: Annotated[
        str | None, typer.Option(help="nats only: the NATS URL to use or start.")
    ] = None,
    store_dir: Annotated[
        str | None,
        typer.Option(
            help="nats only: JetStream store directory of a server started here "
            "(default $XDG_DATA_HOME/cosmonapse/nats-PORT)."
        ),
    ] = None,
    max_line_bytes: Annotated[
        int, typer.Option(min=1024, help="memory only: the longest line a client may send.")
    ] = DEFAULT_MAX_LINE_BYTES,
    max_outbound_bytes: Annotated[
        int,
        typer.Option(min=1024, help="memory only: unread bytes per client before it is dropped."),
    ] = DEFAULT_MAX_OUTBOUND_BYTES,
    max_connections: Annotated[
        int, typer.Option(min=1, help="memory only: clients connected at once.")
    ] = _LIMITS.max_connections,
    max_subscriptions: Annotated[
        int, typer.Option(min=1, help="memory only: subscriptions per client.")
    ] = _LIMITS.max_subscriptions,
    hello_timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="memory with a token only: seconds a new client has to authenticate.",
        ),
    ] = _LIMITS.hello_timeout_s,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="COSMO_TOKEN",
            show_default=False,
            help="memory only: a shared secret every client must present "
            "(cosmo://:TOKEN@host:port or COSMO_TOKEN on the client side). Prefer the "
            "COSMO_TOKEN variable: a command-line argument is visible to other local users.",
        ),
    ] = None,
) -> None:
    """Start a synapse and stream every Signal of the namespace to this terminal.

    With memory, this process is the dev synapse at cosmo://HOST:PORT: every agent
    process on this machine connects to that URL. With a token, clients connect to
    cosmo://:TOKEN@HOST:PORT (or set COSMO_TOKEN). Ctrl-C stops it.
    """
    if kind is Kind.nats and (host is not None or port is not None):
        raise typer.BadParameter(
            "--host and --port are for the dev synapse (memory); for nats give "
            "--broker nats://HOST:PORT",
            param_hint="--host/--port",
        )
    if kind is Kind.memory:
        limits = ServerLimits(
            max_line_bytes=max_line_bytes,
            max_outbound_bytes=max_outbound_bytes,
            max_connections=max_connections,
            max_subscriptions=max_subscriptions,
            hello_timeout_s=hello_timeout,
        )
        run(
            _serve_memory(
                namespace,
                DEFAULT_HOST if host is None else host,
                DEFAULT_PORT if port is None else port,
                quiet,
                limits,
                token,
            )
        )
    else:
        run(_serve_nats(broker, namespace, quiet, store_dir))


async def _serve_memory(
    namespace: str | None,
    host: str,
    port: int,
    quiet: bool,
    limits: ServerLimits,
    token: str | None = None,
) -> None:
    try:
        server = DevSynapseServer(host, port, limits=limits, namespace=namespace, token=token)
        await server.start()
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = " (is a dev synapse already running? pick another port with --port)"
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    printer = LinePrinter(make_console()).start()
    try:
        transport = DEV_TRANSPORT_WITH_TOKEN if server.token_required else DEV_TRANSPORT
        for line in banner(server.url, namespace, transport):
            printer.put(line)
        if not quiet:
            await Doppler(server.open_local_synapse(), namespace, printer).start()
        await wait_for_stop()
    finally:
        await server.close()
        printer.close()
    if printer.dropped:
        err(f"{printer.dropped} lines were not printed: the terminal did not keep up", prefix="")
    stats = server.stats
    err(
        f"dev synapse stopped: {stats['published']} published, {stats['delivered']} delivered, "
        f"{stats['connections_total']} connections, {stats['slow_consumers']} slow consumers "
        "dropped",
        style="dim",
        prefix="",
    )


# -- NATS ------------------------------------------------------------------------------


async def _serve_nats(
    broker: str | None, namespace: str | None, quiet: bool, store_dir: str | None = None
) -> None:
    try:
        url, process = await nats_broker.ensure_nats_server(broker, store_dir=store_dir)
    except (CosmoError, CosmonapseError) as exc:
        raise Failure(str(exc)) from None
    try:
        try:
            synapse = await connect_synapse(url)
        except (CosmonapseError, ValueError) as exc:
            raise Failure(str(exc)) from None
        printer = LinePrinter(make_console()).start()
        try:
            # synapse.url, not url: the banner never shows credentials
            kind = "NATS (core, at-most-once; nats+js:// for durable TASKs)"
            for line in banner(synapse.url, namespace, kind):
                printer.put(line)
            if not quiet:
                await Doppler(synapse, namespace, printer).start()
            await wait_for_stop()
        finally:
            await synapse.close()
            printer.close()
    finally:
        if process is not None:
            await nats_broker.stop_nats_server(process)


# -- view ------------------------------------------------------------------------------


@app.command(
    "view",
    epilog="Example: cosmo synapse view --url cosmo://127.0.0.1:7070 -n quickstart",
)
def view(
    url: UrlOption = "cosmo://127.0.0.1:7070",
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", callback=_namespace, help="Show only this namespace."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the namespaces a running dev synapse knows and their counts.

    subs: live subscriptions in the namespace; clients: connections holding them;
    published / delivered: frames since the namespace became known; signals: published
    frames by type. With a nats:// or nats+js:// URL: the durable TASK streams and their
    consumers (stored, pending, ack pending, redelivered, acked).
    """
    if url.lower().startswith(("nats://", "nats+js://", "tls://", "nats+js+tls://")):
        run(_view_jetstream(url, namespace, as_json))
        return
    run(_view(url, namespace, as_json))


async def _view_jetstream(url: str, namespace: str | None, as_json: bool) -> None:
    from cosmonapse.synapses._js_state import jetstream_state

    try:
        rows = await jetstream_state(url, namespace)
    except (CosmonapseError, ValueError) as exc:
        raise Failure(str(exc)) from None
    console = make_console()
    if as_json:
        console.file.write(orjson.dumps(rows).decode() + "\n")
        return
    if not rows:
        console.print("no durable TASK streams yet (they appear on the first nats+js:// TASK)")
        return
    columns = ("stream", "consumer", "stored", "pending", "ack_pending", "redelivered", "acked")
    table = Table(title="JetStream (nats+js://)", title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:2] else "right")
    for row in rows:
        table.add_row(*(str(row.get(c) if row.get(c) is not None else "-") for c in columns))
    console.print(table)


async def _view(url: str, namespace: str | None, as_json: bool) -> None:
    if not url.lower().startswith("cosmo://"):
        # Only the scheme is echoed: the rest of the URL may carry credentials.
        got = f", not {url.partition('://')[0]}://" if "://" in url else ""
        raise Failure(
            "synapse view reads a dev synapse or a NATS server: "
            f"give a cosmo:// or nats:// URL{got}"
        )
    try:
        synapse: DevSynapse = await dev_connect(url, reconnect=False)
    except (CosmonapseError, ValueError) as exc:
        raise Failure(str(exc)) from None
    try:
        names = [namespace] if namespace else await synapse.list_namespaces()
        infos = [await synapse.namespace_info(name) for name in names]
    except CosmonapseError as exc:
        raise Failure(str(exc)) from None
    finally:
        await synapse.close()
    console = make_console()
    if as_json:
        console.file.write(orjson.dumps(infos).decode() + "\n")
        return
    shown = synapse.url  # never the token the URL may carry
    if not infos:
        console.print(f"{shown}: no namespaces yet")
        return
    table = Table(title=shown, title_justify="left")
    table.add_column("namespace", no_wrap=True)
    table.add_column("transport")
    for column in ("subs", "clients", "published", "delivered"):
        table.add_column(column, justify="right")
    table.add_column("signals", no_wrap=True)
    for info in infos:
        signals = info.get("signals") or {}
        table.add_row(
            str(info.get("namespace")),
            str(info.get("transport") or "-"),
            str(info.get("subscriptions", 0)),
            str(info.get("subscribers", 0)),
            str(info.get("published", 0)),
            str(info.get("delivered", 0)),
            "\n".join(f"{k}={v}" for k, v in sorted(signals.items())) or "-",
        )
    console.print(table)
