"""``cosmo dispatch``: send one TASK and print the reply.

Exit status: 0 for AGENT_OUTPUT or FINAL, 1 for an ERROR reply (or when the synapse
cannot be reached, or is lost while waiting), 2 when no reply came in time (2 is also what
a usage error gives), 130 on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import typer
from cosmonapse import (
    CosmonapseError,
    Dendrite,
    DispatchTimeoutError,
    Route,
    Signal,
    SignalType,
    Synapse,
    connect_synapse,
    route_of,
)
from cosmonapse.subjects import validate_namespace
from rich.text import Text

from ..console import line_width, make_console
from ..render import describe, render_line
from ._common import DEFAULT_URL, EXIT_INTERRUPTED, Failure, UrlOption, fail, run, until_closed

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TIMEOUT", "dispatch"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_TIMEOUT = 2

IN_PROCESS = (
    "{url} is an in-process bus: no agent in another process can answer a TASK sent on "
    "it. Start a dev synapse (cosmo synapse start memory) and point the agents and this "
    "command at cosmo://127.0.0.1:7070, or use nats://"
)


def _input(value: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter('must be a JSON object, for example {"prompt": "the sun"}')
    return parsed


def _capabilities(value: str | None) -> list[str] | None:
    if value is None:
        return None
    caps = [c.strip() for c in value.split(",") if c.strip()]
    if not caps:
        raise typer.BadParameter("give at least one capability, for example chat,summarize")
    return caps


def dispatch(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The namespace to use.")],
    input_json: Annotated[
        str, typer.Option("--input", "-i", help="The TASK input, a JSON object.")
    ],
    url: UrlOption = DEFAULT_URL,
    neuron: Annotated[str | None, typer.Option(help="Address the TASK to this neuron id.")] = None,
    capabilities: Annotated[
        str | None,
        typer.Option(help="Or to whoever covers these capabilities (comma-separated)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds to wait for the reply.")
    ] = 30.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reply Signal as one JSON line.")
    ] = False,
) -> None:
    """Dispatch one TASK and print the first reply on its trace.

    Exits 0 on AGENT_OUTPUT or FINAL, 1 on ERROR (or when the synapse cannot be reached
    or is lost), 2 when nothing answers in time, 130 on Ctrl-C.
    """
    if urlsplit(url).scheme.lower() == "memory":
        fail(IN_PROCESS.format(url=url))
    try:
        validate_namespace(namespace)
    except CosmonapseError as exc:
        raise typer.BadParameter(str(exc), param_hint="--namespace") from None
    payload = _input(input_json)
    caps = _capabilities(capabilities)
    if (neuron is None) == (caps is None):
        raise typer.BadParameter("give exactly one of --neuron ID or --capabilities A,B")
    run(
        _dispatch(url, namespace, neuron, caps, payload, timeout, as_json),
        interrupted=EXIT_INTERRUPTED,
    )


async def _dispatch(
    url: str,
    namespace: str,
    neuron: str | None,
    capabilities: list[str] | None,
    payload: dict[str, Any],
    timeout_s: float,
    as_json: bool,
) -> int:
    try:
        synapse = await connect_synapse(url)
    except (CosmonapseError, ValueError) as exc:
        raise Failure(str(exc)) from None
    try:
        dendrite = Dendrite(
            synapse=synapse,
            namespace=namespace,
            # Named for what it is, so a Doppler line reads "echo -> cosmo-dispatch-1a2b3c".
            dendrite_id=f"cosmo-dispatch-{secrets.token_hex(3)}",
            role="orchestrator",
            heartbeat_s=0,
        )
        async with dendrite:
            reply = await _unless_lost(
                synapse,
                dendrite.dispatch_and_wait(
                    neuron=neuron, capabilities=capabilities, input=payload, timeout_s=timeout_s
                ),
            )
    except DispatchTimeoutError:
        target = neuron if neuron is not None else "capabilities " + ",".join(capabilities or [])
        raise Failure(f"no reply from {target} within {timeout_s:g} s", EXIT_TIMEOUT) from None
    except CosmonapseError as exc:
        raise Failure(str(exc)) from None
    finally:
        await synapse.close()
    # The reply answers the TASK this Dendrite sent: by the route rule it goes back to it.
    _print_reply(reply, namespace, as_json, Route(route_of(reply).sender, dendrite.dendrite_id))
    return EXIT_ERROR if reply.type is SignalType.ERROR else EXIT_OK


async def _unless_lost(synapse: Synapse, waiting: Coroutine[Any, Any, Signal]) -> Signal:
    """Await ``waiting``; fail at once, not at the timeout, if the synapse gives up."""
    reply = asyncio.ensure_future(waiting)
    lost = asyncio.ensure_future(until_closed(synapse))
    try:
        await asyncio.wait((reply, lost), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reply, lost):
            task.cancel()
        await asyncio.gather(reply, lost, return_exceptions=True)
    if not reply.done() or reply.cancelled():
        raise Failure(f"lost the synapse at {synapse.url} while waiting for the reply")
    return reply.result()


def _print_reply(reply: Signal, namespace: str, as_json: bool, route: Route) -> None:
    console = make_console()
    if as_json:
        console.file.write(reply.encode().decode() + "\n")
        return
    width = line_width(console)
    console.print(render_line(describe(reply, namespace, route, fitted=width is not None), width))
    body = {
        SignalType.AGENT_OUTPUT: "output",
        SignalType.FINAL: "result",
    }.get(reply.type)
    value = reply.payload.get(body, reply.payload) if body else reply.payload
    console.print(Text(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()))
