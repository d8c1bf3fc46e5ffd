"""Checked by mypy --strict in test_public_types.py, never imported by pytest: every line
without ``# type: ignore`` must type-check, and every ``# type: ignore[code]`` must be
needed (``warn_unused_ignores``), so the wrong uses below are proven to be rejected."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, assert_type

from cosmonapse import (
    Axon,
    Dendrite,
    Hit,
    ImprintResult,
    MemoryRegistryStore,
    MemorySynapse,
    NeuronContext,
    NeuronFn,
    Participant,
    Signal,
)
from cosmonapse.engram_binding import ImprintHelper, RecallHelper
from cosmonapse.registry import RegistryStore

# -- NeuronFn: plain async functions, with or without the helper keywords ---------------


async def typed(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {"n": input["n"]}


async def loose(input: Mapping[str, Any], context: Any) -> Mapping[str, Any]:
    return input


async def with_helpers(
    input: dict[str, Any], context: NeuronContext, *, imprint: Any, recall: Any
) -> dict[str, Any]:
    return {}


async def typed_helpers(
    input: dict[str, Any], context: NeuronContext, *, imprint: ImprintHelper, recall: RecallHelper
) -> dict[str, Any]:
    written = await imprint("notes", op="add", entry={"n": 1}, timeout_s=1.0)
    assert_type(written, ImprintResult | None)
    hits = await recall("notes", query={}, top_k=3)
    assert_type(hits, list[Hit])
    return {"id": written.id if written else None, "first": hits[0].entry if hits else None}


async def untyped(input, context):  # type: ignore[no-untyped-def]
    return {}


class CallableNeuron:
    async def __call__(self, input: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        return {}


def sync_neuron(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {}


async def returns_a_list(input: dict[str, Any], context: NeuronContext) -> list[int]:
    return []


async def wants_an_int(input: int, context: NeuronContext) -> dict[str, Any]:
    return {}


good: list[NeuronFn] = [typed, loose, with_helpers, typed_helpers, untyped, CallableNeuron()]
Axon("typed", typed)
Axon("helpers", with_helpers, capabilities=["x"])
Axon("sync", sync_neuron)  # type: ignore[arg-type]
Axon("list", returns_a_list)  # type: ignore[arg-type]
Axon("int", wants_an_int)  # type: ignore[arg-type]

# -- the reply decorators return the handler unchanged, with its type --------------------

dendrite = Dendrite(synapse=MemorySynapse(), namespace="types")
Handler = Callable[[Signal], Coroutine[Any, Any, None]]


@dendrite.on_final
async def bare(signal: Signal) -> None:
    return None


@dendrite.on_agent_output(neuron="poet")
async def filtered(signal: Signal) -> None:
    return None


@dendrite.on_error_signal(capability="x", trace_id="t")
async def on_error(signal: Signal) -> None:
    return None


@dendrite.on_signal("TASK", neuron="poet")
async def on_task(signal: Signal) -> None:
    return None


# Each keeps its function type (not Any: assigning it to an int is an error) ...
handlers: list[Handler] = [bare, filtered, on_error, on_task]
kept_1: int = bare  # type: ignore[assignment]
kept_2: int = filtered  # type: ignore[assignment]
kept_3: int = on_error  # type: ignore[assignment]
kept_4: int = on_task  # type: ignore[assignment]


async def call_directly(signal: Signal) -> None:
    assert_type(await bare(signal), None)  # still callable as the function it was


# ... and what is not a handler is refused.
@dendrite.on_final  # type: ignore[type-var]
def not_async(signal: Signal) -> None:
    return None


@dendrite.on_signal("FINAL")  # type: ignore[type-var]
async def takes_an_int(value: int) -> None:
    return None


dendrite.on_final(neuron=3)  # type: ignore[call-overload]

# -- registry: a Protocol the in-process store implements; Participant records ----------


class ElsewhereStore:
    def observe(self, signal: Signal) -> None:
        return None


stores: list[RegistryStore] = [MemoryRegistryStore(), ElsewhereStore()]
members: list[Participant] = MemoryRegistryStore().participants()
assert_type(MemoryRegistryStore().get("x"), Participant | None)
not_a_store: RegistryStore = object()  # type: ignore[assignment]
