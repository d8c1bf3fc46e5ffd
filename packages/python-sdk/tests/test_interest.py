"""Frames for other participants of the namespace are passed over undecoded
(``_interest.py``): a TASK that names no hosted Axon, a reply to a TASK nobody here waits
on. Each is counted in ``counters["skipped"]``, and nothing a Dendrite acts on is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, NeuronContext, Signal, SignalType, builders
from cosmonapse._frame_peek import NOT_READ, peek_parent_id
from cosmonapse.subjects import signal_subject

from .conftest import HANG_GUARD_S, Bus, eventually

NS = "interest"
N = 20


async def echo(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {"by": context.node, **input}


def host(synapse: Any, name: str, neuron: str) -> Dendrite:
    d = Dendrite(synapse=synapse, namespace=NS, dendrite_id=name, role="worker", heartbeat_s=0)
    d.attach_axon(Axon(neuron, echo))
    return d


def caller(synapse: Any, name: str) -> Dendrite:
    return Dendrite(synapse=synapse, namespace=NS, dendrite_id=name, heartbeat_s=0)


async def test_tasks_and_replies_for_others_are_skipped(bus: Bus) -> None:
    a, b = host(await bus.connect(), "wa", "echo-a"), host(await bus.connect(), "wb", "echo-b")
    one, two = caller(await bus.connect(), "c1"), caller(await bus.connect(), "c2")
    async with a, b, one, two:
        replies = await asyncio.gather(
            *(
                one.dispatch_and_wait(neuron="echo-a", input={"i": i}, timeout_s=HANG_GUARD_S)
                for i in range(N)
            ),
            *(
                two.dispatch_and_wait(neuron="echo-b", input={"i": i}, timeout_s=HANG_GUARD_S)
                for i in range(N)
            ),
        )
        assert [r.output["by"] for r in replies] == ["wa"] * N + ["wb"] * N
        assert [r.output["i"] for r in replies] == [*range(N), *range(N)]
        # each host passed over the other's TASKs, each caller the other's replies
        for dendrite in (a, b, one, two):
            await eventually(lambda d=dendrite: d.counters["skipped"] == N)
        assert a.counters["received"] == N and b.counters["received"] == N
        assert one.counters["received"] == N and two.counters["received"] == N
        assert all(d.counters["bad_frames"] == 0 for d in (a, b, one, two))


async def test_a_task_handler_hears_every_task(bus: Bus) -> None:
    a, b = host(await bus.connect(), "wa", "echo-a"), host(await bus.connect(), "wb", "echo-b")
    boss = caller(await bus.connect(), "boss")
    heard: list[Signal] = []

    async def on_task(signal: Signal) -> None:
        heard.append(signal)

    async with a, b, boss:
        await b.subscribe(SignalType.TASK, on_task)
        reply = await boss.dispatch_and_wait(neuron="echo-a", input={}, timeout_s=HANG_GUARD_S)
        assert reply.output["by"] == "wa"
        await eventually(lambda: len(heard) == 1)
        assert heard[0].neuron == "echo-a"
        assert b.counters["skipped"] == 0


async def test_an_output_handler_hears_every_reply(bus: Bus) -> None:
    a = host(await bus.connect(), "wa", "echo-a")
    one, two = caller(await bus.connect(), "c1"), caller(await bus.connect(), "c2")
    heard: list[Signal] = []

    @two.on_agent_output
    async def _heard(signal: Signal) -> None:
        heard.append(signal)

    async with a, one, two:
        reply = await one.dispatch_and_wait(neuron="echo-a", input={}, timeout_s=HANG_GUARD_S)
        await eventually(lambda: len(heard) == 1)
        assert heard[0].id == reply.id
        assert two.counters["skipped"] == 0


@pytest.mark.parametrize("neuron", ["résumé", "a/b", "x<y"])
async def test_an_id_an_encoder_may_escape_turns_the_byte_test_off(bus: Bus, neuron: str) -> None:
    """A TASK for such an id might not hold its bytes as they are: every TASK is decoded."""
    a, b = host(await bus.connect(), "wa", neuron), host(await bus.connect(), "wb", "plain")
    boss = caller(await bus.connect(), "boss")
    raw = await bus.connect()
    async with a, b, boss:
        # the id written with JSON escapes, as some encoders would
        task = builders.task_signal(input={"x": 1}, neuron=neuron).to_dict()
        escaped = "".join(f"\\u{ord(c):04x}" for c in neuron)
        frame = (
            b'{"v":"1","id":"%s","trace_id":"%s","parent_id":null,"type":"TASK",'
            b'"directed":{"id":"%s","type":null,"capabilities":[]},"ts":"%s",'
            b'"payload":{"input":{"x":1}},"meta":{}}'
            % (
                task["id"].encode(),
                task["trace_id"].encode(),
                escaped.encode(),
                task["ts"].encode(),
            )
        )
        assert Signal.decode(frame).neuron == neuron
        outputs: list[Signal] = []

        async def heard(subject: str, data: bytes) -> None:
            outputs.append(Signal.decode(data))

        await raw.subscribe(signal_subject(NS, "AGENT_OUTPUT"), heard)
        await raw.publish(signal_subject(NS, "TASK"), frame)
        await eventually(lambda: len(outputs) == 1)
        assert outputs[0].parent_id == task["id"] and outputs[0].payload["output"]["by"] == "wa"
        reply = await boss.dispatch_and_wait(neuron="plain", input={}, timeout_s=HANG_GUARD_S)
        assert reply.output["by"] == "wb"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b'{"parent_id":"evt_1","id":"x"}', "evt_1"),
        (b'{"parent_id" :  "evt_1"}', "evt_1"),
        (b'{"parent_id":\n"evt_1"}', "evt_1"),
        (b'{"parent_id":null}', None),
        (b'{"parent_id": null}', None),
        (b'{"parent_id":"evt_\\u0031"}', NOT_READ),  # an escape: decode it
        (b'{"parent_id":"a","payload":{"parent_id":"b"}}', NOT_READ),  # twice
        (b'{"id":"x"}', NOT_READ),  # absent
        (b'{"parent_id":1}', NOT_READ),
        (b'{"parent_id":"evt_1', NOT_READ),  # cut
        (b'{"k":"parent_id","j":1}', NOT_READ),  # a value, not the key
        (b'{"parent_id":"\xff"}', NOT_READ),  # not UTF-8
    ],
)
def test_peek_parent_id_reads_only_what_the_bytes_settle(frame: bytes, expected: object) -> None:
    assert peek_parent_id(frame) == expected


async def test_a_reply_whose_payload_names_another_parent_first_still_arrives(bus: Bus) -> None:
    """An encoder that writes ``payload`` before ``parent_id`` puts a payload's own
    ``"parent_id"`` first in the bytes: the key then appears twice, and the frame is
    decoded rather than judged by the first one."""
    boss = caller(await bus.connect(), "boss")
    raw = await bus.connect()
    tasks: list[Signal] = []

    async def heard(subject: str, data: bytes) -> None:
        tasks.append(Signal.decode(data))

    await raw.subscribe(signal_subject(NS, "TASK"), heard)
    async with boss:
        wait = asyncio.ensure_future(
            boss.dispatch_and_wait(neuron="nobody", input={}, timeout_s=HANG_GUARD_S)
        )
        await eventually(lambda: len(tasks) == 1)
        task = tasks[0]
        other = builders.task_signal(input={}, neuron="x")  # a well-formed id, not waited on
        reply = builders.agent_output_signal(task, output={"ok": True}, producer="nobody")
        fields = reply.to_dict()
        frame = (
            b'{"payload":{"output":{"ok":true},"parent_id":"%s"},"v":"1","id":"%s",'
            b'"trace_id":"%s","parent_id":"%s","type":"AGENT_OUTPUT",'
            b'"directed":{"id":"nobody","type":null,"capabilities":[]},"ts":"%s","meta":{}}'
            % tuple(v.encode() for v in (other.id, reply.id, reply.trace_id, task.id, fields["ts"]))
        )
        await raw.publish(signal_subject(NS, "AGENT_OUTPUT"), frame)
        got = await asyncio.wait_for(wait, HANG_GUARD_S)
        assert got.id == reply.id and got.output == {"ok": True}
        assert boss.counters["skipped"] == 0
