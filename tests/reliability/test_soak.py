"""Soak: 200,000 Signals through one dev synapse process with a slow consumer attached.

The server is ``cosmo synapse start memory`` in its own process, so the resident memory
read from ``/proc/<pid>/status`` is the server's alone. On raw TCP connections (speaking
docs/protocol.md section 4 directly, so the test process is not the bottleneck):

* one publisher writes 200,000 ``pub`` lines, many per write;
* a counting consumer subscribes and reads everything as fast as it can;
* a slow consumer subscribes and reads a kilobyte now and then.

What the protocol promises, and so what is asserted: the server stays up and answers
``ping``; the slow consumer is dropped once its unread lines pass the outbound bound
(``--max-outbound-bytes``) and counted; a consumer that keeps up gets every frame, in
order. The dev synapse is at-most-once and does not slow a publisher down for a lagging
consumer (it drops the consumer instead), so the publisher here stays at most ``WINDOW``
frames ahead of the counting consumer: that keeps the counting consumer under the bound
on a box of any speed, and then losing one of its frames would be a bug. Memory after
warm-up and at the end differ by less than a generous bound. Nothing is timed; the
figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from cosmonapse import Directed, Signal, SignalType, connect_synapse
from cosmonapse.subjects import signal_subject
from cosmonapse.synapses.dev import DevSynapse

from tests.reliability._procs.handles import ProcessGroup

N = 200_000
WARM_UP = 20_000  # frames received before the first memory sample
BATCH = 500  # pub lines per write
WINDOW = 2_000  # frames the publisher may run ahead of the counting consumer
OUTBOUND_BYTES = 2 * 1_048_576  # the server's per-client bound (--max-outbound-bytes)
RSS_GROWTH_BOUND = 50 * 1_048_576
WAIT_S = 30.0  # hang guard for one step; the whole soak gets SOAK_S
SOAK_S = 240.0

NAMESPACE = "soak"
SUBJECT = signal_subject(NAMESPACE, "AGENT_OUTPUT")
SEQ = re.compile(rb'\\"seq\\":(\d+)')  # inside the frame, a JSON string in the msg line
MiB = 1_048_576


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        await group.close()


class Frames:
    """The ``pub`` lines of Signals 0..N-1: AGENT_OUTPUTs of one trace, each with its own
    id and ``payload.output.seq``, encoded once by the SDK and varied by text."""

    def __init__(self) -> None:
        template = Signal(
            type=SignalType.AGENT_OUTPUT,
            directed=Directed("soak-producer"),
            payload={"output": {"seq": 0, "text": "a token of a long streamed answer"}},
        )
        text = template.encode().decode()
        head, _, rest = text.partition(template.id)
        mid, _, tail = rest.partition('"seq":0')
        self._head = head
        self._mid = mid + '"seq":'
        self._tail = tail
        # evt_ + 16 characters of a real ULID + 10 digits: 26 base32 characters in all.
        self._id_prefix = template.id[:20]
        self._pub = b'{"op":"pub","subject":"' + SUBJECT.encode() + b'","frame":'
        self.size = len(self.line(N - 1))

    def line(self, seq: int) -> bytes:
        frame = f"{self._head}{self._id_prefix}{seq:010d}{self._mid}{seq}{self._tail}"
        return self._pub + orjson.dumps(frame) + b"}\n"

    def batch(self, start: int, stop: int) -> bytes:
        return b"".join([self.line(seq) for seq in range(start, stop)])


async def open_raw(
    url: str, *, subscribe: str | None = None, limit: int = 4 * MiB
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw client: hello, then (optionally) a subscription that is live on return.
    ``limit`` bounds what the stream reader buffers ahead of the test's reads."""
    host, port = url.removeprefix("cosmo://").rsplit(":", 1)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, int(port), limit=limit), WAIT_S
    )
    writer.write(b'{"op":"hello"}\n')
    if subscribe is not None:
        sub = {"op": "sub", "sub_id": "s1", "subject": subscribe, "queue_group": None}
        writer.write(orjson.dumps(sub) + b"\n")
    # read past the banner and the welcome(s) (docs/protocol.md, section 4) up to the pong
    writer.write(b'{"op":"ping"}\n')
    await writer.drain()
    wanted = b"pong"
    while True:
        line = await asyncio.wait_for(reader.readline(), WAIT_S)
        assert line, "the dev synapse closed the connection during the handshake"
        if orjson.loads(line)["op"] == wanted.decode():
            return reader, writer


class CountingConsumer:
    """Reads every ``msg`` line, checks the sequence numbers arrive complete and in order."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.received = 0
        self.other_lines = 0
        self.out_of_order = 0
        self.progress = asyncio.Event()
        self.ended: str | None = None

    async def run(self) -> None:
        try:
            await self._read()
        except BaseException as exc:
            self.ended = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.progress.set()  # a publisher waiting on this consumer looks again

    async def _read(self) -> None:
        carry = b""
        while self.received < N:
            chunk = await self.reader.read(1 << 18)
            if not chunk:
                raise AssertionError(
                    f"the server closed the counting consumer after {self.received} frames"
                )
            data = carry + chunk
            end = data.rfind(b"\n") + 1
            carry = data[end:]
            seqs = [int(s) for s in SEQ.findall(data, 0, end)]
            self.other_lines += data.count(b"\n", 0, end) - len(seqs)
            if seqs != list(range(self.received, self.received + len(seqs))):
                self.out_of_order += 1
            self.received += len(seqs)
            self.progress.set()

    async def caught_up_to(self, sent: int) -> None:
        """Return once at most WINDOW of the ``sent`` frames are unread."""
        while sent - self.received > WINDOW:
            assert self.ended is None, f"the counting consumer stopped: {self.ended}"
            self.progress.clear()
            await asyncio.wait_for(self.progress.wait(), WAIT_S)


async def slow_consumer(reader: asyncio.StreamReader, hurry: asyncio.Event) -> tuple[str, int]:
    """Read a kilobyte every 50 ms; once ``hurry`` is set, read the rest at full speed to
    learn how the connection ended. Returns ``("reset" | "closed", bytes read)``."""
    got = 0
    try:
        while chunk := await reader.read(1024):
            got += len(chunk)
            if not hurry.is_set():
                await asyncio.sleep(0.05)
    except ConnectionResetError:
        return "reset", got
    return "closed", got


async def test_200k_signals_with_a_slow_consumer_keep_the_server_flat(
    procs: ProcessGroup,
) -> None:
    server = await procs.dev_synapse("--max-outbound-bytes", str(OUTBOUND_BYTES))
    control = await connect_synapse(server.url)
    assert isinstance(control, DevSynapse)
    frames = Frames()
    count_reader, count_writer = await open_raw(server.url, subscribe=SUBJECT)
    # A small reader limit, so "slow" holds at the socket: the stream stops taking bytes
    # from the kernel once it has 32 KiB buffered.
    slow_reader, slow_writer = await open_raw(server.url, subscribe=SUBJECT, limit=16 * 1024)
    _, pub_writer = await open_raw(server.url)
    counter = CountingConsumer(count_reader)
    counting = asyncio.create_task(counter.run())
    hurry = asyncio.Event()
    slow = asyncio.create_task(slow_consumer(slow_reader, hurry))
    samples: list[tuple[int, int]] = []  # (frames received, server RSS)
    try:
        info = await control.namespace_info(NAMESPACE)
        assert info["subscribers"] == 2
        baseline = server.rss_bytes()
        started = time.monotonic()

        async def soak() -> None:
            sent = 0
            next_sample = WARM_UP
            while sent < N:
                await counter.caught_up_to(sent)
                stop = min(sent + BATCH, N)
                pub_writer.write(frames.batch(sent, stop))
                await pub_writer.drain()
                sent = stop
                if counter.received >= next_sample:
                    samples.append((counter.received, server.rss_bytes()))
                    next_sample += WARM_UP
            await asyncio.wait_for(counting, WAIT_S)

        await asyncio.wait_for(soak(), SOAK_S)
        elapsed = time.monotonic() - started
        server_cpu = server.cpu_seconds()
        await control.flush()  # the server still answers ping
        samples.append((counter.received, server.rss_bytes()))
        info = await control.namespace_info(NAMESPACE)
        hurry.set()
        how, slow_got = await asyncio.wait_for(slow, WAIT_S)
        peak = server.peak_rss_bytes()
    finally:
        for task in (counting, slow):
            task.cancel()
        await asyncio.gather(counting, slow, return_exceptions=True)
        for writer in (count_writer, slow_writer, pub_writer):
            writer.close()
        await control.close()

    warm, end = samples[0][1], samples[-1][1]
    print(
        f"\nsoak: {N} frames of {frames.size} bytes in {elapsed:.1f} s "
        f"({N / elapsed:,.0f}/s), server CPU {server_cpu:.1f} s; server RSS baseline "
        f"{baseline / MiB:.1f} MiB, after "
        f"{samples[0][0]} frames {warm / MiB:.1f} MiB, end {end / MiB:.1f} MiB, peak "
        f"{peak / MiB:.1f} MiB; slow consumer {how} after reading {slow_got} bytes; "
        f"delivered {info['delivered']}"
    )
    # Everything arrived, in order, and nothing else did (no err line to the counter).
    assert counter.received == N
    assert counter.out_of_order == 0
    assert counter.other_lines == 0
    assert info["published"] == N
    # The slow consumer was cut off by the server (it never closed its own side), and
    # got only a part of the stream; the counting consumer is the one subscriber left.
    assert how in ("reset", "closed")
    assert slow_got < N * frames.size // 4
    assert info["subscribers"] == 1
    assert N < info["delivered"] < 2 * N
    # Memory is flat after warm-up, within a generous bound.
    assert end - warm < RSS_GROWTH_BOUND, [(n, rss // MiB) for n, rss in samples]
    # Ctrl-C: the server shuts down cleanly and its counters agree.
    code, stderr = await server.interrupt()
    assert code == 0, stderr
    assert re.search(rf"dev synapse stopped: {N} published, \d+ delivered", stderr), stderr
    assert "1 slow consumers dropped" in stderr, stderr


def test_frames_are_valid_signals_with_their_own_ids() -> None:
    frames = Frames()
    first = orjson.loads(frames.line(0))
    last = orjson.loads(frames.line(N - 1))
    assert first["subject"] == SUBJECT
    a, b = Signal.decode(first["frame"].encode()), Signal.decode(last["frame"].encode())
    assert a.id != b.id and a.trace_id == b.trace_id
    assert (a.payload["output"]["seq"], b.payload["output"]["seq"]) == (0, N - 1)
    assert [int(s) for s in SEQ.findall(frames.batch(7, 10))] == [7, 8, 9]
