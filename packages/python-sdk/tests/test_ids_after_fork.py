"""Ids stay unique across os.fork: a forked child does not continue its parent's
monotonic ULID sequence (a worker pool forked from one process would mint duplicates)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from cosmonapse._ids import UlidFactory


def test_ids_made_in_one_millisecond_are_ordered_and_unique() -> None:
    factory = UlidFactory()
    ids = [factory.new() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_reset_draws_fresh_random_bits() -> None:
    factory = UlidFactory()
    first = factory.new()
    factory.reset()
    assert factory.new()[10:] != first[10:]


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork is POSIX only")
def test_a_forked_child_does_not_repeat_the_parents_next_id() -> None:
    # Frozen clock: parent and child make their ids "in the same millisecond", the case
    # where a copied sequence would hand both the same next id.
    script = textwrap.dedent(
        """
        import os, time
        time.time_ns = lambda: 1_700_000_000_000_000_000
        from cosmonapse import new_event_id
        new_event_id()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, new_event_id().encode())
            os._exit(0)
        os.waitpid(pid, 0)
        child = os.read(read, 100).decode()
        print(child, new_event_id())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    child, parent = done.stdout.split()
    assert child.startswith("evt_") and parent.startswith("evt_")
    assert child != parent
