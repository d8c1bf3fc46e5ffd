"""The dev synapse server speaks docs/protocol.md section 4 line for line.

Every test talks to a real server over real TCP with hand-written lines, as a peer built
only on the published protocol would.
"""

from __future__ import annotations

import orjson
import pytest
from cosmonapse import Signal, SignalType
from cosmonapse_cli.server import DevSynapseServer


async def test_handshake_and_ping(server: DevSynapseServer, raw) -> None:
    client = await raw(server)
    assert await client.request({"op": "hello"}) == {"op": "welcome"}
    assert await client.request({"op": "ping"}) == {"op": "pong"}


async def test_msg_line_carries_the_signal_as_a_json_string(server: DevSynapseServer, raw) -> None:
    sub, pub = await raw(server), await raw(server)
    await sub.send({"op": "sub", "sub_id": "s1", "subject": "cosmonapse.ns.*", "queue_group": None})
    assert await sub.request({"op": "ping"}) == {"op": "pong"}
    frame = Signal(type=SignalType.TASK, payload={"input": {"prompt": "the sun"}}).encode().decode()
    await pub.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": frame})

    line = await sub.recv_line()
    expected = (
        b'{"op":"msg","sub_id":"s1","subject":"cosmonapse.ns.TASK","frame":'
        + orjson.dumps(frame)
        + b"}\n"
    )
    assert line == expected
    assert Signal.decode(orjson.loads(line)["frame"]).payload == {"input": {"prompt": "the sun"}}


async def test_wildcards_and_unsub(server: DevSynapseServer, raw) -> None:
    client = await raw(server)
    await client.send({"op": "sub", "sub_id": "star", "subject": "cosmonapse.ns.*"})
    await client.send({"op": "sub", "sub_id": "tail", "subject": "cosmonapse.ns.>"})
    await client.send({"op": "pub", "subject": "cosmonapse.ns.TASK.routed", "frame": "a"})
    assert await client.recv() == {
        "op": "msg",
        "sub_id": "tail",
        "subject": "cosmonapse.ns.TASK.routed",
        "frame": "a",
    }
    await client.send({"op": "unsub", "sub_id": "tail"})
    await client.send({"op": "unsub", "sub_id": "never-existed"})  # idempotent, no err
    await client.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "b"})
    assert (await client.recv())["sub_id"] == "star"
    assert await client.request({"op": "ping"}) == {"op": "pong"}  # nothing else queued


async def test_queue_group_gives_each_frame_to_one_member(server: DevSynapseServer, raw) -> None:
    members = [await raw(server) for _ in range(2)]
    for i, member in enumerate(members):
        await member.send(
            {"op": "sub", "sub_id": f"m{i}", "subject": "cosmonapse.ns.TASK", "queue_group": "g"}
        )
        assert await member.request({"op": "ping"}) == {"op": "pong"}
    pub = await raw(server)
    for n in range(10):
        await pub.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": str(n)})
    assert await pub.request({"op": "ping"}) == {"op": "pong"}  # all ten fanned out
    shares: list[list[str]] = []
    for member in members:
        # the member's share is queued before the pong to this ping
        await member.send({"op": "ping"})
        share = []
        while (line := await member.recv())["op"] == "msg":
            share.append(line["frame"])
        shares.append(share)
    assert sorted(shares[0] + shares[1], key=int) == [str(n) for n in range(10)]
    assert all(shares)  # round-robin spreads the work


async def test_frame_sent_as_an_object_is_forwarded_as_text(server: DevSynapseServer, raw) -> None:
    client = await raw(server)
    await client.send({"op": "sub", "sub_id": "s", "subject": "cosmonapse.ns.TASK"})
    await client.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": {"n": 1}})
    assert (await client.recv())["frame"] == '{"n":1}'


async def test_namespace_management(server: DevSynapseServer, raw) -> None:
    client = await raw(server)
    assert await client.request(
        {"op": "ns_register", "namespace": "qs", "transport": "memory"}
    ) == {
        "op": "ns_registered",
        "namespace": "qs",
    }
    await client.send({"op": "sub", "sub_id": "d", "subject": "cosmonapse.qs.>"})
    other = await raw(server)
    await other.send({"op": "sub", "sub_id": "t", "subject": "cosmonapse.qs.TASK"})
    assert await other.request({"op": "ping"}) == {"op": "pong"}
    for kind in ("TASK", "TASK", "AGENT_OUTPUT"):
        await other.send({"op": "pub", "subject": f"cosmonapse.qs.{kind}", "frame": "x"})
    await other.send({"op": "pub", "subject": "cosmonapse.elsewhere.TASK", "frame": "x"})
    for _ in range(3):
        assert (await client.recv())["op"] == "msg"
    for _ in range(2):
        assert (await other.recv())["op"] == "msg"

    listing = await client.request({"op": "mgmt_list"})
    assert listing == {"op": "mgmt_ns_list", "namespaces": ["elsewhere", "qs"]}
    info = await client.request({"op": "mgmt_info", "namespace": "qs"})
    assert info == {
        "op": "mgmt_ns_info",
        "namespace": "qs",
        "registered": True,
        "transport": "memory",
        "subscriptions": 2,
        "subscribers": 2,
        "published": 3,
        "delivered": 5,  # 3 to the wildcard, 2 TASKs to the exact subscriber
        "signals": {"TASK": 2, "AGENT_OUTPUT": 1},
    }
    unknown = await client.request({"op": "mgmt_info", "namespace": "nobody"})
    assert unknown["published"] == 0 and unknown["registered"] is False

    ack = await client.request({"op": "mgmt_stop", "namespace": "qs"})
    # the stopping client held a subscription there: it is told before the ack
    assert ack["op"] == "err" and "'d'" in ack["message"] and "stopped" in ack["message"]
    assert await client.recv() == {"op": "mgmt_stop_ack", "namespace": "qs"}
    notice = await other.recv()
    assert notice["op"] == "err" and "'t'" in notice["message"]
    assert (await client.request({"op": "mgmt_list"}))["namespaces"] == ["elsewhere"]
    await other.send({"op": "pub", "subject": "cosmonapse.qs.TASK", "frame": "late"})
    assert await client.request({"op": "ping"}) == {"op": "pong"}  # no msg: subscription ended


async def test_server_namespace_is_listed_before_traffic(raw) -> None:
    async with DevSynapseServer("127.0.0.1", port=0, namespace="quickstart") as srv:
        client = await raw(srv)
        assert (await client.request({"op": "mgmt_list"}))["namespaces"] == ["quickstart"]
        assert srv.url == f"cosmo://127.0.0.1:{srv.port}" and srv.port != 0


async def test_local_synapse_shares_the_bus_with_tcp_clients(
    server: DevSynapseServer, raw, eventually
) -> None:
    local = server.open_local_synapse()
    got: list[tuple[str, bytes]] = []

    async def handler(subject: str, data: bytes) -> None:
        got.append((subject, data))

    await local.subscribe("cosmonapse.ns.>", handler)
    client = await raw(server)
    await client.send({"op": "sub", "sub_id": "s", "subject": "cosmonapse.ns.TASK"})
    assert await client.request({"op": "ping"}) == {"op": "pong"}
    await client.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "from-tcp"})
    assert (await client.recv())["frame"] == "from-tcp"
    await local.publish("cosmonapse.ns.TASK", "from-local ✓".encode())
    assert (await client.recv())["frame"] == "from-local ✓"
    await eventually(lambda: len(got) == 2)
    assert got == [
        ("cosmonapse.ns.TASK", b"from-tcp"),
        ("cosmonapse.ns.TASK", "from-local ✓".encode()),
    ]


@pytest.mark.parametrize("line", [b"\n", b"   \r\n"])
async def test_blank_lines_are_ignored(server: DevSynapseServer, raw, line: bytes) -> None:
    client = await raw(server)
    await client.send(line)
    assert await client.request({"op": "ping"}) == {"op": "pong"}


async def test_a_client_that_sends_nothing_gets_the_welcome_banner(
    server: DevSynapseServer, raw
) -> None:
    # A client of the published protocol waits for this line and never sends hello.
    client = await raw(server, read_banner=False)
    assert await client.recv() == {"op": "welcome"}
    assert await client.request({"op": "ping"}) == {"op": "pong"}  # and nothing else came


async def test_hello_after_the_banner_gets_another_welcome(server: DevSynapseServer, raw) -> None:
    client = await raw(server, read_banner=False)
    await client.send({"op": "hello"})
    await client.send({"op": "hello"})
    assert [await client.recv() for _ in range(3)] == [{"op": "welcome"}] * 3
    assert await client.request({"op": "ping"}) == {"op": "pong"}
