"""A small team across processes, in one command (offline):

    python team.py                 # the planner fans out to two researchers, the writer combines
    python team.py --stop  # the user stops the trace mid-way

It starts a dev synapse in this process (or uses SYNAPSE_URL, cosmo:// or nats://), the
three worker processes (desk.py, researchers.py --name a, researchers.py --name b), and
then the caller: one root TASK for the planner, whose tree it prints as it grows.
"""

import argparse
import asyncio
import contextlib
import os
import sys

from cosmonapse import (
    Dendrite,
    Reply,
    SignalType,
    TraceStoppedError,
    connect_synapse,
    new_trace_id,
)
from knowledge import NAMESPACE

SYNAPSE_URL = os.environ.get("SYNAPSE_URL")  # unset: a dev synapse in this process
TOPIC = "stopping a team of agents"
WAIT_S = 60.0  # a hang guard for every wait below, never a pause
PROCESSES = {  # name: its command line, in the order its lines are shown
    "desk": ["desk.py"],
    "researchers-a": ["researchers.py", "--name", "a"],
    "researchers-b": ["researchers.py", "--name", "b"],
}


class Process:
    """One worker process; its stdout, line by line. Ends when its stdin is closed."""

    def __init__(self, name, argv, url):
        self.name, self.argv, self.url = name, argv, url
        self.lines = []
        self.changed = asyncio.Event()
        self.process = self.reader = None

    async def start(self):
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *self.argv, "--with-parent",
            env={**os.environ, "SYNAPSE_URL": self.url, "PYTHONUNBUFFERED": "1"},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.reader = asyncio.ensure_future(self.read())

    async def read(self):
        async for raw in self.process.stdout:
            self.lines.append(raw.decode().rstrip("\n"))
            self.changed.set()
        self.changed.set()

    async def wait_for(self, text):
        """Wait until the process has printed a line starting with ``text``; return it."""
        async with asyncio.timeout(WAIT_S):
            while True:
                for line in self.lines:
                    if line.startswith(text):
                        return line
                if self.reader.done():
                    raise RuntimeError(f"{self.name} exited after {self.lines}")
                self.changed.clear()
                await self.changed.wait()

    async def stop(self):
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.stdin.close()  # the process sees EOF and shuts down cleanly
            try:
                async with asyncio.timeout(WAIT_S):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self.reader


class Progress:
    """Prints the trace's tree as it grows: a line per TASK (->) and per answer (<-).

    TASKs sent at the same moment (a fan-out) are printed sorted by neuron id when the
    next answer arrives, so the output is the same on every run."""

    def __init__(self, trace_id, on_answer):
        self.trace_id = trace_id
        self.on_answer = on_answer
        self.held = []

    async def task(self, task):
        if task.trace_id == self.trace_id and task.meta.get("depth"):
            self.held.append((task.neuron, task.meta["depth"], task.meta.get("caller")))

    async def answer(self, signal):
        if signal.trace_id != self.trace_id:
            return
        self.flush()
        reply = Reply.of(signal)
        outcome = "answered" if reply.ok else f"ERROR {reply.payload.get('code')}"
        print(f"   <- {reply.producer:<13} {outcome} on {reply.node}")
        self.on_answer(reply)

    def flush(self):
        for neuron, depth, caller in sorted(self.held):
            print(f"   -> {neuron:<13} depth {depth}, asked by {caller}")
        self.held.clear()


class Acks(dict):
    """The STOPPED acks of one trace, by the Dendrite that sent them."""

    def __init__(self):
        super().__init__()
        self.changed = asyncio.Event()

    def heard(self, trace_id):
        async def on_stopped(ack):
            if ack.trace_id == trace_id and ack.payload.get("node") in PROCESSES:
                self[ack.payload["node"]] = ack
                self.changed.set()

        return on_stopped

    async def wait_for(self, nodes):
        async with asyncio.timeout(WAIT_S):
            while not set(nodes) <= set(self):
                self.changed.clear()
                await self.changed.wait()


async def run_caller(url, processes, stop):
    synapse = await connect_synapse(url)
    caller = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="caller")
    acks = Acks()
    answered = asyncio.Event()

    def on_answer(reply):
        if reply.producer == "researcher-a":
            answered.set()

    try:
        async with caller:
            trace_id = new_trace_id()
            progress = Progress(trace_id, on_answer)
            await caller.subscribe(SignalType.TASK, progress.task)
            await caller.subscribe(SignalType.AGENT_OUTPUT, progress.answer)
            await caller.subscribe(SignalType.ERROR, progress.answer)
            await caller.subscribe(SignalType.STOPPED, acks.heard(trace_id))
            print(f'caller: dispatch_and_wait(neuron="planner", input={{"topic": {TOPIC!r}}})')
            print("   -> planner       depth 0, the root")
            waiting = asyncio.ensure_future(caller.dispatch_and_wait(
                neuron="planner", input={"topic": TOPIC}, trace_id=trace_id, timeout_s=WAIT_S,
            ))  # fmt: skip
            if not stop:
                reply = await waiting
                progress.flush()
                print(f"\nthe note, from {reply.producer} on {reply.node}:")
                for line in reply.output["text"].splitlines():
                    print(f"   {line}")
                for n, source in enumerate(reply.output["sources"], start=1):
                    print(f"   [{n}] {source}")
            else:
                # Mid-way: researcher-a has answered, researcher-b says it is reading (the
                # user sees both: team.py reads the worker processes' output).
                async with asyncio.timeout(WAIT_S):
                    await answered.wait()
                await next(p for p in processes if p.name == "researchers-b").wait_for(
                    "researcher-b: reading"
                )
                if waiting.done():
                    raise RuntimeError(f"the trace ended before it was stopped: {waiting}")
                print("\nthe user: stop (researcher-a has answered, researcher-b is reading)")
                print("caller: stop_trace(trace_id, collect_acks=True)")
                result = await caller.stop_trace(trace_id, collect_acks=True, timeout_s=5)
                try:
                    await waiting
                except TraceStoppedError as exc:
                    print(f"   the caller's wait ended with {type(exc).__name__}")
                # stop_trace returns once the Dendrites it knows took part have acked; one
                # that runs a child TASK and has answered nothing yet is known to no one, so
                # its ack may come later. The caller knows its team: it waits for all three.
                for ack in result.acks:
                    if ack.payload.get("node") in PROCESSES:
                        acks[ack.payload["node"]] = ack
                await acks.wait_for(PROCESSES)
                for node in PROCESSES:
                    cancelled = acks[node].payload.get("cancelled", 0)
                    print(f"   STOPPED from {node:<13} cancelled {cancelled}")
                total = sum(acks[node].payload.get("cancelled", 0) for node in PROCESSES)
                print(f"   every process of the team acked; {total} runs cancelled in all")
    finally:
        await synapse.close()


@contextlib.asynccontextmanager
async def bus():
    if SYNAPSE_URL:
        print(f"bus: {SYNAPSE_URL}")
        yield SYNAPSE_URL
        return
    from cosmonapse_cli.server import DevSynapseServer

    async with DevSynapseServer("127.0.0.1", port=0) as server:
        print("dev synapse started in this process (cosmo://127.0.0.1, a free port)")
        yield server.url


async def main(stop):
    async with bus() as url:
        processes = [Process(name, argv, url) for name, argv in PROCESSES.items()]
        try:
            for process in processes:
                await process.start()
            for process in processes:
                print(f"   {await process.wait_for(f'{process.name} ready')}")
            print()
            await run_caller(url, processes, stop)
        finally:
            for process in processes:
                await process.stop()
        # Each has ended (so printed all it will), and is shown in a fixed order.
        print("\nwhat each process printed about the trace:")
        for process in processes:
            for line in process.lines[1:]:
                print(f"   [{process.name}] {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop", action="store_true",
                        help="stop the trace mid-way, once researcher-a has answered")
    asyncio.run(main(parser.parse_args().stop))
