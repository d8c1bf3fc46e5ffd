"""MemorySynapse delivery is never re-entrant: a handler runs on a later turn of the event
loop, not inside the sender's ``await publish``; frames reach subscriptions in publish
order; ``max_pending`` still bounds what waits for a subscription (base.py's contract,
subjects as docs/protocol.md section 3). And a forked child starts without the parent's
``memory://NAME`` buses."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable

from cosmonapse import MemorySynapse

WaitUntil = Callable[..., Awaitable[None]]


async def test_a_plain_handler_runs_after_publish_returns_in_publish_order(
    wait_until: WaitUntil,
) -> None:
    async with MemorySynapse() as synapse:
        got: list[tuple[str, str, bytes]] = []
        await synapse.subscribe("t.a", lambda s, d: got.append(("A", s, d)))
        await synapse.subscribe("t.b", lambda s, d: got.append(("B", s, d)))
        await synapse.publish("t.a", b"1")
        await synapse.publish("t.b", b"2")
        await synapse.publish("t.a", b"3")
        assert got == []  # nothing ran inside the sender's publish
        await asyncio.sleep(0)  # one loop turn, not a wait for time
        assert got == [("A", "t.a", b"1"), ("B", "t.b", b"2"), ("A", "t.a", b"3")]
        await wait_until(lambda: synapse.stats["delivered"] == 3)


async def test_max_pending_bounds_what_waits_and_counts_the_rest() -> None:
    async with MemorySynapse(max_pending=3) as synapse:
        got: list[bytes] = []
        await synapse.subscribe("full", lambda s, d: got.append(d))
        for n in range(5):
            await synapse.publish("full", str(n).encode())
        assert synapse.stats["dropped"] == 2
        await asyncio.sleep(0)
        assert got == [b"0", b"1", b"2"]


def test_a_forked_child_has_none_of_the_parents_named_buses() -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, sys
        from cosmonapse.synapses.memory import BUSES, connect

        async def main():
            return await connect("memory://fork-test-bus")

        parent_bus = asyncio.run(main())
        assert BUSES.find("fork-test-bus") is parent_bus
        pid = os.fork()
        if pid == 0:
            ok = BUSES.find("fork-test-bus") is None and len(BUSES) == 0
            child_bus = asyncio.run(main())
            ok = ok and child_bus is not parent_bus
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert BUSES.find("fork-test-bus") is parent_bus  # the parent keeps its own
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
