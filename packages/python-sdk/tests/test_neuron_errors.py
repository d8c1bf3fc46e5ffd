"""How an Axon turns a Neuron's failure into an ERROR (what a retry decides on)."""

from __future__ import annotations

from typing import Any

from cosmonapse import Axon, SignalType
from cosmonapse.builders import task_signal


async def test_timeout_error_of_a_neuron_is_a_recoverable_error() -> None:
    async def stalls(input: dict[str, Any], context: Any) -> dict[str, Any]:
        raise TimeoutError("upstream took too long")

    reply = await Axon("slow", stalls).handle_task(task_signal(input={}, neuron="slow"))
    assert reply.type is SignalType.ERROR
    assert reply.payload["code"] == "NEURON_EXCEPTION"
    assert reply.payload["recoverable"] is True


async def test_other_exceptions_of_a_neuron_are_not_recoverable() -> None:
    async def breaks(input: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ValueError("bad input")

    reply = await Axon("broken", breaks).handle_task(task_signal(input={}, neuron="broken"))
    assert reply.type is SignalType.ERROR
    assert reply.payload["recoverable"] is False
