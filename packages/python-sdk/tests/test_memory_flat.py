"""Per-trace memory stays flat: 100,000 more finished traces retain nothing more.

Every per-trace record a Dendrite keeps (traces it worked on or stopped, reply waiters,
the dedup window, hosted Engrams' journals) is either dropped when the trace ends or held
in a bounded window. After a warm-up that fills the bounded windows, the number of items
held in all containers reachable from the Dendrites must not grow with 100,000 more
finished traces. The walk goes through every attribute, so it needs no knowledge of the
internal structures' names: a map that kept one record per trace adds 100,000 items.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Mapping
from typing import Any

from cosmonapse import Axon, Dendrite, InMemoryEngram, MemorySynapse, SignalType

NS = "flat"
BATCH = 100
WARM_UP = 12_000  # past every bounded window (10,000 by default)
MEASURED = 100_000
GROWTH_LIMIT = 2_000  # items; a per-trace leak adds about MEASURED


async def _trivial(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"ok": True}


_OPAQUE = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.ModuleType,
    types.CoroutineType,
    types.FrameType,
    type,
    asyncio.AbstractEventLoop,
)


def _held_items(*roots: object) -> int:
    """Items held in every list, dict, set, tuple and deque reachable from ``roots``
    through attributes and container contents."""
    seen: set[int] = set()
    stack: list[object] = list(roots)
    items = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        if isinstance(obj, _OPAQUE):
            continue
        if isinstance(obj, Mapping):
            items += len(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
            items += len(obj)  # type: ignore[arg-type]
            stack.extend(obj)  # type: ignore[call-overload]
            continue
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            stack.extend(attrs.values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if isinstance(slot, str):
                    stack.append(getattr(obj, slot, None))
    return items


async def _run(boss: Dendrite, count: int) -> None:
    for _ in range(count // BATCH):
        replies = await asyncio.gather(
            *(
                boss.dispatch_and_wait(neuron="trivial", input={}, timeout_s=30)
                for _ in range(BATCH)
            )
        )
        assert all(r.type is SignalType.AGENT_OUTPUT for r in replies)


async def test_retained_state_does_not_grow_with_finished_traces(memory: MemorySynapse) -> None:
    worker = Dendrite(synapse=memory, namespace=NS, dendrite_id="w", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("trivial", _trivial))
    worker.attach_engram(InMemoryEngram("notes"))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)
    async with worker, boss:
        await _run(boss, WARM_UP)
        before = _held_items(worker, boss, memory)
        await _run(boss, MEASURED)
        after = _held_items(worker, boss, memory)
    assert after - before < GROWTH_LIMIT, (
        f"{after - before} more items held after {MEASURED} more finished traces "
        f"({before} after the warm-up)"
    )
