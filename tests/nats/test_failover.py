"""Reconnect and fail-over against real nats-server processes that are killed mid-test."""

from __future__ import annotations

import asyncio
import logging

import pytest
from cosmonapse import SynapseClosedError, connect_synapse
from cosmonapse.synapses.nats import NatsSynapse

from tests.nats.helpers import Received, eventually, reconnected
from tests.nats_servers import NatsCluster, NatsServer

FAST = {"reconnect_time_wait": 0.1}  # keeps the tests quick; the default is 1 s


async def open_nats(url: str) -> NatsSynapse:
    synapse = await connect_synapse(url, **FAST)
    assert isinstance(synapse, NatsSynapse)
    return synapse


async def test_subscriptions_survive_a_server_restart_on_the_same_port(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cosmonapse.synapse.nats")
    synapse = await open_nats(nats_server.url)
    plain, queued = Received(), Received()
    try:
        await synapse.subscribe("cosmonapse.restart.>", plain)
        await synapse.subscribe("cosmonapse.restart.TASK", queued, queue_group="caps:echo")
        await synapse.publish("cosmonapse.restart.TASK", b"before")
        await plain.wait_for(1)
        await queued.wait_for(1)

        nats_server.restart()  # SIGKILL, then a new process on the same port
        await reconnected(synapse)

        # A fresh client on the new server sees only what the old client re-subscribed.
        other = await open_nats(nats_server.url)
        await other.publish("cosmonapse.restart.TASK", b"after")
        await plain.wait_for(2)
        await queued.wait_for(2)
        assert plain.data == [b"before", b"after"]
        assert queued.data == [b"before", b"after"]
        await other.close()
        assert synapse.stats["disconnects"] == 1
        assert synapse.stats["reconnects"] == 1
    finally:
        await synapse.close()
    text = caplog.text
    assert f"disconnected from NATS server 127.0.0.1:{nats_server.port}" in text
    assert f"reconnected to NATS server 127.0.0.1:{nats_server.port}" in text
    assert "2 subscription(s) restored" in text


async def test_a_subscriber_fails_over_when_its_node_is_killed(
    nats_cluster: NatsCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cosmonapse.synapse.nats")
    first, _, third = nats_cluster.nodes
    # The subscriber is given only its own node: the others it learns from the cluster.
    subscriber = await open_nats(first.url)
    publisher = await open_nats(third.url)
    got = Received()
    try:
        await subscriber.subscribe("cosmonapse.failover.TASK", got)
        await asyncio.to_thread(nats_cluster.wait_for_interest, "cosmonapse.failover.TASK")
        await publisher.publish("cosmonapse.failover.TASK", b"0")
        await got.wait_for(1)

        first.kill()
        await reconnected(subscriber)
        moved_to = subscriber.connected_server
        assert moved_to is not None and moved_to != f"127.0.0.1:{first.port}"
        await asyncio.to_thread(nats_cluster.wait_for_interest, "cosmonapse.failover.TASK")

        for i in range(1, 51):
            await publisher.publish("cosmonapse.failover.TASK", str(i).encode())
        await got.wait_for(51)
        assert [int(d) for d in got.data] == list(range(51))
    finally:
        await subscriber.close()
        await publisher.close()
    assert f"failed over from NATS server 127.0.0.1:{first.port} to {moved_to}" in caplog.text


async def test_publishes_made_while_failing_over_are_sent_once_a_node_answers(
    nats_cluster: NatsCluster,
) -> None:
    first, second, _ = nats_cluster.nodes
    subscriber = await open_nats(second.url)
    publisher = await open_nats(first.url)
    got = Received()
    try:
        await subscriber.subscribe("cosmonapse.buffered.TASK", got)
        await asyncio.to_thread(nats_cluster.wait_for_interest, "cosmonapse.buffered.TASK")

        first.kill()
        await eventually(lambda: publisher.stats["disconnects"] == 1)
        # The client knows it lost its server: what it publishes now waits in its buffer.
        for i in range(20):
            await publisher.publish("cosmonapse.buffered.TASK", str(i).encode())
        await reconnected(publisher)
        await got.wait_for(20)
        assert [int(d) for d in got.data] == list(range(20))
    finally:
        await subscriber.close()
        await publisher.close()


async def test_a_client_given_the_whole_cluster_survives_losing_two_nodes(
    nats_cluster: NatsCluster,
) -> None:
    synapse = await open_nats(nats_cluster.url)
    got = Received()
    try:
        await synapse.subscribe("cosmonapse.many.TASK", got)
        for round_ in range(2):
            node = nats_cluster.node_at(synapse.connected_server or "")
            node.kill()
            await reconnected(synapse, round_ + 1)
            await synapse.publish("cosmonapse.many.TASK", str(round_).encode())
            await got.wait_for(round_ + 1)
        assert got.data == [b"0", b"1"]
        survivors = [n for n in nats_cluster.nodes if n.running]
        assert len(survivors) == 1
        assert synapse.connected_server == f"127.0.0.1:{survivors[0].port}"
    finally:
        await synapse.close()


async def test_a_client_that_runs_out_of_attempts_closes_and_says_so(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cosmonapse.synapse.nats")
    synapse = await connect_synapse(
        nats_server.url, reconnect_time_wait=0.05, max_reconnect_attempts=2
    )
    await synapse.subscribe("cosmonapse.gone.TASK", Received())
    nats_server.kill()
    await eventually(lambda: synapse.closed)
    with pytest.raises(SynapseClosedError):
        await synapse.publish("cosmonapse.gone.TASK", b"x")
    await synapse.close()  # still fine after the connection closed by itself
    assert "is closed for good" in caplog.text


async def test_subscribing_while_disconnected_takes_effect_once_on_reconnect(
    nats_server: NatsServer,
) -> None:
    synapse = await open_nats(nats_server.url)
    got = Received()
    try:
        nats_server.kill()
        await eventually(lambda: synapse.connected_server is None)
        await synapse.subscribe("cosmonapse.later.TASK", got)  # does not wait for a server
        nats_server.start()  # same port
        await reconnected(synapse)
        other = await open_nats(nats_server.url)
        await other.publish("cosmonapse.later.TASK", b"1")
        await other.publish("cosmonapse.later.TASK", b"2")
        await other.publish("cosmonapse.later.TASK", b"end")
        # A duplicate subscription would get "1" and "2" a second time; the server sends
        # both copies on this one connection before either copy of "end", so the third
        # frame the handler sees is a duplicate rather than "end".
        await got.wait_for(3)
        assert got.data == [b"1", b"2", b"end"]
        await other.close()
    finally:
        await synapse.close()


async def test_close_does_not_wait_for_a_server_that_just_died(nats_server: NatsServer) -> None:
    synapse = await connect_synapse(nats_server.url, drain_timeout=30)
    await synapse.subscribe("cosmonapse.dying.TASK", Received())
    nats_server.kill()
    await asyncio.wait_for(synapse.close(), 10)  # not the 30 s drain_timeout
    assert synapse.closed
