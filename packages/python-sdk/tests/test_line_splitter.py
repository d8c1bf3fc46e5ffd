"""The dev client's and server's line handling: chunk boundaries never change the lines, and
lines queued together leave together."""

from __future__ import annotations

import itertools

from cosmonapse.synapses._ndjson import LineSplitter
from hypothesis import given, settings
from hypothesis import strategies as st

lines_st = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=300, deadline=None)
@given(
    lines=lines_st,
    cuts=st.lists(st.integers(min_value=0), max_size=20),
    limit=st.integers(min_value=1, max_value=50),
)
def test_chunking_does_not_change_the_lines(
    lines: list[bytes], cuts: list[int], limit: int
) -> None:
    data = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(limit)
    got: list[bytes] = []
    for chunk in _chunked(data, cuts):
        got.extend(splitter.feed(chunk))
    assert got == [line for line in lines if len(line) <= limit]
    assert splitter.oversized == sum(len(line) > limit for line in lines)
    assert splitter.pending == 0


def test_an_unfinished_line_is_held_up_to_the_limit_only() -> None:
    splitter = LineSplitter(8)
    assert splitter.feed(b"abc") == [] and splitter.pending == 3
    assert splitter.feed(b"x" * 100) == [] and splitter.pending == 0  # dropped, not held
    assert splitter.feed(b"y" * 100) == [] and splitter.pending == 0
    assert splitter.feed(b"tail\nok\npart") == [b"ok"]
    assert splitter.oversized == 1 and splitter.pending == 4
    assert splitter.feed(b"ial\n") == [b"partial"]


async def test_lines_of_one_loop_iteration_leave_in_one_write_in_order() -> None:
    import asyncio

    from cosmonapse.synapses._ndjson import LineBatcher

    writes: list[bytes] = []
    batcher = LineBatcher(writes.append)
    for n in range(3):
        batcher.add(b"%d\n" % n)
    assert writes == [] and batcher.pending == 6  # nothing leaves before the iteration ends
    await asyncio.sleep(0)
    assert writes == [b"0\n1\n2\n"] and batcher.pending == 0
    batcher.add(b"x\n")
    batcher.flush()  # an explicit flush writes at once; the scheduled one finds nothing
    await asyncio.sleep(0)
    assert writes == [b"0\n1\n2\n", b"x\n"]
