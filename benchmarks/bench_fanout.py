"""Fan-out figures: one publisher, 1, 10 and 100 Doppler subscribers, on memory:// and
cosmo://, each next to a raw baseline measured in the same run.

    python benchmarks/bench_fanout.py [--quick]

A Doppler subscribes to the namespace wildcard (``cosmonapse.bench.>``) with no queue
group, so every subscriber gets every frame. Here each subscriber's handler only counts
frames: the figure is the bus's fan-out (what the ``cosmo doppler`` command adds on top,
decoding and printing, is its own cost). The publisher sends M encoded Signals as fast
as the transport takes them, and the clock stops when every subscriber has counted M:
the figure is deliveries (frames times subscribers) per second.

* memory:// next to asyncio queues: one queue and one consumer task per subscriber, the
  publisher putting each item into every queue.
* cosmo:// next to the raw relay of ``_raw.py``: the dev synapse server (or the relay) runs
  in a child process; the publisher and the N subscribers (one TCP connection each, as N
  Doppler processes would have) run here.

M is chosen so no buffer can overflow (memory inboxes hold 65,536 frames, the server
8 MiB per client): nothing is dropped, and a drop would show as a hang guard failing.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _peers import NAMESPACE, peer
from _raw import RawCaller, RawSubscriber
from _table import Options, Row, run_script
from cosmonapse import MemorySynapse, Synapse, builders, connect_synapse
from cosmonapse.subjects import namespace_wildcard, signal_subject

SECTION = "fan-out to Doppler subscribers"
SUBSCRIBERS = (1, 10, 100)
SUBJECT = signal_subject(NAMESPACE, "AGENT_OUTPUT")
FRAME = builders.task_signal(input={"n": 1, "prompt": "the sun"}, neuron="echo").encode()
LINE = (
    b'{"op":"pub","subject":"'
    + SUBJECT.encode()
    + b'","frame":'
    + orjson.dumps(FRAME.decode())
    + b"}\n"
)
DEADLINE_S = 60.0


def frames_for(subscribers: int, opts: Options, *, total: int, cap: int) -> int:
    """Frames to publish so about ``total`` deliveries happen (fewer with --quick), at
    most ``cap`` so that no subscriber's buffer can fill."""
    total = total // 10 if opts.quick else total
    return max(20, min(cap, total // subscribers))


class Counter:
    """Counts deliveries across subscribers; :meth:`wait` returns at ``target``."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.get_running_loop().create_future()

    def hit(self) -> None:
        self.count += 1
        if self.count >= self.target and not self.done.done():
            self.done.set_result(None)

    async def wait(self) -> None:
        try:
            await asyncio.wait_for(self.done, DEADLINE_S)
        except TimeoutError:
            raise RuntimeError(
                f"only {self.count} of {self.target} deliveries within {DEADLINE_S:g} s"
            ) from None


async def timed(publish: Callable[[], Awaitable[None]], frames: int, counter: Counter) -> float:
    """Deliveries per second: publish ``frames`` frames and wait for every delivery."""
    started = time.perf_counter()
    for _ in range(frames):
        await publish()
    await counter.wait()
    return counter.target / (time.perf_counter() - started)


async def raw_queues(subscribers: int, frames: int) -> float:
    queues: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in range(subscribers)]
    counter = Counter(subscribers * frames)

    async def consume(queue: asyncio.Queue[bytes]) -> None:
        while True:
            await queue.get()
            counter.hit()

    tasks = [asyncio.get_running_loop().create_task(consume(q)) for q in queues]

    async def publish() -> None:
        for queue in queues:
            queue.put_nowait(FRAME)

    try:
        return await timed(publish, frames, counter)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def synapse_fanout(publisher: Synapse, listeners: list[Synapse], frames: int) -> float:
    counter = Counter(len(listeners) * frames)

    async def count(subject: str, data: bytes) -> None:
        counter.hit()

    subs = [await s.subscribe(namespace_wildcard(NAMESPACE), count) for s in listeners]
    try:
        return await timed(lambda: publisher.publish(SUBJECT, FRAME), frames, counter)
    finally:
        for sub in subs:
            await sub.unsubscribe()


async def memory_rows(opts: Options) -> list[Row]:
    rows = []
    for n in SUBSCRIBERS:
        frames = frames_for(n, opts, total=100_000, cap=50_000)
        raw = await raw_queues(n, frames)
        bus = MemorySynapse()
        try:
            value = await synapse_fanout(bus, [bus] * n, frames)
        finally:
            await bus.close()
        rows.append(
            Row(
                f"memory: deliveries/s, {n} subscriber{'s' if n > 1 else ''} (vs queues)",
                value,
                "/s",
                raw,
                section=SECTION,
            )
        )
    return rows


async def raw_relay(address: str, subscribers: int, frames: int) -> float:
    subs = [await RawSubscriber.open(address) for _ in range(subscribers)]
    publisher = await RawCaller.open(address, b"pub")
    try:
        started = time.perf_counter()
        for _ in range(frames):
            await publisher.send(LINE)
        await asyncio.gather(*(s.wait_for(frames, DEADLINE_S) for s in subs))
        return subscribers * frames / (time.perf_counter() - started)
    finally:
        await publisher.aclose()
        for sub in subs:
            await sub.aclose()


async def dev_rows(opts: Options) -> list[Row]:
    rows = []
    async with peer("raw-relay") as relay, peer("dev-server") as url:
        for n in SUBSCRIBERS:
            frames = frames_for(n, opts, total=20_000, cap=10_000)
            raw = await raw_relay(relay, n, frames)
            listeners = [await connect_synapse(url) for _ in range(n)]
            publisher = await connect_synapse(url)
            try:
                value = await synapse_fanout(publisher, listeners, frames)
            finally:
                for synapse in [publisher, *listeners]:
                    await synapse.close()
            rows.append(
                Row(
                    f"dev: deliveries/s, {n} subscriber{'s' if n > 1 else ''} (vs raw relay)",
                    value,
                    "/s",
                    raw,
                    section=SECTION,
                )
            )
    return rows


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    return [*await memory_rows(opts), *await dev_rows(opts)]


if __name__ == "__main__":
    sys.exit(run_script("fan-out", main, __doc__.splitlines()[0]))
