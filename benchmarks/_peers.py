"""The other ends of the TCP benchmarks, run in their own process or in this one.

A real deployment runs the dev synapse, the workers and the caller as separate
processes, so by default every peer here runs in a child process
(``python _peers.py ROLE ARGS...``), and the raw baselines run the same way: a figure and
its baseline always have the same processes and the same hops. ``inproc=True`` runs the
peer in the caller's own event loop instead (``bench_dev.py --inproc``), to see what the
placement changes.

Roles (each yields the address the caller needs, printed by a child as ``READY <address>``):

* ``dev-server [max_line_bytes]``: a :class:`~cosmonapse_cli.server.DevSynapseServer`.
* ``raw-echo`` / ``raw-relay``: the raw servers of :mod:`_raw`.
* ``raw-workers ADDRESS COUNT``: relay workers that echo lines.
* ``workers URL COUNT MODE``: worker Dendrites, one connection each to URL (cosmo:// or
  nats://), with an echo Neuron; MODE ``neuron`` hosts Neuron ``echo`` (COUNT must be 1),
  ``caps`` hosts ``echo-<i>`` with capability ``echo`` (so they share one queue group).
* ``nats-responders URL COUNT``: raw nats-py connections in one queue group answering
  ``bench.echo`` requests from their subscription callback.
* ``dev-echoes URL COUNT``: the transport alone: DevSynapse connections in one queue group
  answering ``bench.ask.<key>`` on ``bench.reply.<key>``, no Dendrite and no codec.
* ``callers URL IN_FLIGHT with-worker|no-worker``: a caller Dendrite keeping IN_FLIGHT
  ``dispatch_and_wait`` round trips to Neuron ``echo`` going until the peer ends (after a
  warm-up), with the worker Dendrite in the same process or not; its address is its pid
  (``hotpath.py`` samples it).

A child lives until its stdin closes, so it never outlives the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosmonapse import Dendrite

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _raw import echo_server, raw_workers, relay_server  # noqa: E402
from _table import cpu_seconds  # noqa: E402

__all__ = [
    "CHILDREN",
    "ECHO_INPUT",
    "ECHO_NEURON",
    "NAMESPACE",
    "children_cpu",
    "echo_round_trip",
    "peer",
]

NAMESPACE = "bench"
ECHO_INPUT = {"n": 1, "prompt": "the sun"}
"""What every Dendrite round trip over a transport sends to the echo Neuron."""
CALLERS_WARM_UP = 2_000
SCRIPT = str(Path(__file__).resolve())
CHILDREN: set[int] = set()
"""The pids of the peers running in child processes now."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


async def ECHO_NEURON(input: dict[str, Any], context: object) -> dict[str, Any]:
    """The Neuron every round trip runs: it returns its input."""
    return input


def echo_round_trip(caller: Dendrite) -> Callable[[], Awaitable[None]]:
    """One ``dispatch_and_wait`` of ``ECHO_INPUT`` to Neuron ``echo`` from ``caller``."""

    async def op() -> None:
        reply = await caller.dispatch_and_wait(neuron="echo", input=ECHO_INPUT, timeout_s=10)
        assert reply.type.value == "AGENT_OUTPUT", reply

    return op


@contextlib.asynccontextmanager
async def _dev_server(max_line_bytes: str = "1048576") -> AsyncIterator[str]:
    from cosmonapse_cli.server import DEFAULT_MAX_OUTBOUND_BYTES, DevSynapseServer, ServerLimits

    line = int(max_line_bytes)
    limits = ServerLimits(
        max_line_bytes=line, max_outbound_bytes=max(DEFAULT_MAX_OUTBOUND_BYTES, 8 * line)
    )
    async with DevSynapseServer("127.0.0.1", 0, limits=limits) as server:
        yield server.url


@contextlib.asynccontextmanager
async def _raw_workers(address: str, count: str) -> AsyncIterator[str]:
    async with raw_workers(address, int(count)):
        yield "ok"


@contextlib.asynccontextmanager
async def _workers(url: str, count: str, mode: str) -> AsyncIterator[str]:
    from cosmonapse import Axon, Dendrite, connect_synapse

    n = int(count)
    if mode not in ("neuron", "caps") or (mode == "neuron" and n != 1):
        raise ValueError(f"workers: bad mode {mode!r} for {n} workers")
    async with contextlib.AsyncExitStack() as stack:
        for i in range(n):
            synapse = await connect_synapse(url)
            stack.push_async_callback(synapse.close)
            worker = Dendrite(
                synapse=synapse,
                namespace=NAMESPACE,
                dendrite_id=f"w{i}",
                role="worker",
                heartbeat_s=0,
            )
            if mode == "neuron":
                worker.attach_axon(Axon(neuron_id="echo", neuron_fn=ECHO_NEURON))
            else:
                worker.attach_axon(
                    Axon(neuron_id=f"echo-{i}", neuron_fn=ECHO_NEURON, capabilities=["echo"])
                )
            await stack.enter_async_context(worker)
        yield "ok"


@contextlib.asynccontextmanager
async def _dev_echoes(url: str, count: str) -> AsyncIterator[str]:
    from cosmonapse import connect_synapse

    n = int(count)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(n):
            synapse = await connect_synapse(url)
            stack.push_async_callback(synapse.close)

            async def answer(subject: str, data: bytes, synapse: Any = synapse) -> None:
                await synapse.publish("bench.reply." + subject.rsplit(".", 1)[1], data)

            await synapse.subscribe("bench.ask.*", answer, queue_group="echo" if n > 1 else None)
        yield "ok"


@contextlib.asynccontextmanager
async def _callers(url: str, in_flight: str, worker: str) -> AsyncIterator[str]:
    from cosmonapse import Axon, Dendrite, connect_synapse

    async with contextlib.AsyncExitStack() as stack:
        caller_bus = await connect_synapse(url)
        stack.push_async_callback(caller_bus.close)
        if worker == "with-worker":
            worker_bus = caller_bus
            if not url.startswith("memory"):
                worker_bus = await connect_synapse(url)
                stack.push_async_callback(worker_bus.close)
            host = Dendrite(synapse=worker_bus, namespace=NAMESPACE, role="worker", heartbeat_s=0)
            host.attach_axon(Axon(neuron_id="echo", neuron_fn=ECHO_NEURON))
            await stack.enter_async_context(host)
        caller = await stack.enter_async_context(
            Dendrite(synapse=caller_bus, namespace=NAMESPACE, heartbeat_s=0)
        )
        round_trip = echo_round_trip(caller)
        for _ in range(CALLERS_WARM_UP):
            await round_trip()

        async def one_caller() -> None:
            while True:
                await round_trip()

        tasks = [asyncio.create_task(one_caller()) for _ in range(int(in_flight))]
        try:
            yield str(os.getpid())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def _nats_responders(url: str, count: str) -> AsyncIterator[str]:
    import nats

    n = int(count)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(n):
            nc = await nats.connect(url)
            stack.push_async_callback(nc.close)

            async def answer(msg: Any) -> None:
                await msg.respond(msg.data)

            await nc.subscribe("bench.echo", queue="echo" if n > 1 else "", cb=answer)
            await nc.flush()
            await nc.flush()  # the second PONG is ordered after the SUB
        yield "ok"


@contextlib.asynccontextmanager
async def _raw_echo() -> AsyncIterator[str]:
    async with echo_server() as address:
        yield address


@contextlib.asynccontextmanager
async def _raw_relay() -> AsyncIterator[str]:
    async with relay_server() as address:
        yield address


ROLES: dict[str, Callable[..., AbstractAsyncContextManager[str]]] = {
    "dev-server": _dev_server,
    "raw-echo": _raw_echo,
    "raw-relay": _raw_relay,
    "raw-workers": _raw_workers,
    "workers": _workers,
    "nats-responders": _nats_responders,
    "dev-echoes": _dev_echoes,
    "callers": _callers,
}


@contextlib.asynccontextmanager
async def peer(role: str, *args: object, inproc: bool = False) -> AsyncIterator[str]:
    """Run ``role`` until the block ends; yields its address (see the module docs).

    In a child process by default; ``inproc=True`` runs it in this event loop. Raises
    RuntimeError when a child does not come up within ``START_TIMEOUT_S``.
    """
    text = [str(a) for a in args]
    if inproc:
        async with ROLES[role](*text) as address:
            yield address
        return
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        SCRIPT,
        role,
        *text,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    CHILDREN.add(proc.pid)
    try:
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            raise RuntimeError(f"the {role} peer did not start (it said {line!r})")
        yield line.split(b" ", 1)[1].strip().decode()
    finally:
        CHILDREN.discard(proc.pid)
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def children_cpu() -> float:
    """CPU seconds used so far by this process and every live child peer."""
    return cpu_seconds(CHILDREN)


async def _child(role: str, args: list[str]) -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with ROLES[role](*args) as address:
        print(f"READY {address}", flush=True)
        await stdin.read()  # EOF: the benchmark is done with this peer


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ROLES:
        sys.exit(f"usage: _peers.py {{{','.join(ROLES)}}} ARGS...")
    asyncio.run(_child(sys.argv[1], sys.argv[2:]))
