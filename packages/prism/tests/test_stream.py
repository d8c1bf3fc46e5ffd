"""The event stream over real HTTP: what it sends, in what order, and what it refuses
to pass on."""

from __future__ import annotations

import asyncio

import httpx
from cosmonapse import Directed, Signal, SignalType
from cosmonapse.subjects import signal_subject

NAMESPACE = "prism-test"  # as in conftest.py
DEADLINE_S = 10.0  # a hang guard, never a performance assertion


async def test_hello_then_live_signals_in_order(start_prism, open_stream, publish, synapse):
    server = await start_prism()
    async with open_stream(server) as (response, reader):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        event, hello = await reader.next_event()
        assert event == "hello"
        assert hello["namespace"] == NAMESPACE
        assert hello["synapse"] == synapse.url
        await reader.until(lambda e, _: e == "stats")
        sent = [
            await publish(SignalType.TASK, {"input": {"n": 1}}, directed=Directed("echo")),
            await publish(SignalType.AGENT_OUTPUT, {"output": {"n": 1}}),
            await publish(SignalType.ERROR, {"code": "X", "message": "boom"}),
            await publish(SignalType.FINAL, {"result": {}}),
        ]
        got = await reader.signals(len(sent))
    assert [s["id"] for s in got] == [s.id for s in sent]
    assert [s["type"] for s in got] == ["TASK", "AGENT_OUTPUT", "ERROR", "FINAL"]
    assert got[0]["directed"]["id"] == "echo"
    assert got[0]["payload"] == {"input": {"n": 1}}


async def test_signals_are_batched(start_prism, open_stream, publish):
    server = await start_prism()
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        # MemorySynapse.publish never yields, so all 50 are queued before the writer runs.
        sent = [await publish() for _ in range(50)]
        events = await reader.until(lambda e, d: e == "signals")
    batch = events[-1][1]["signals"]
    assert len(batch) == 50
    assert [s["id"] for s in batch] == [s.id for s in sent]


async def test_undecodable_frames_are_skipped_and_counted(
    start_prism, open_stream, publish, synapse
):
    server = await start_prism(stats_interval_s=0.1)
    subject = signal_subject(NAMESPACE, "TASK")
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        await synapse.publish(subject, b"not json at all")
        await synapse.publish(subject, b'{"v":"1","id":"nope"}')
        await synapse.publish(subject, b"[1, 2, 3]")
        good = await publish(SignalType.TASK, {"input": {}})
        got = await reader.signals(1)
        assert [s["id"] for s in got] == [good.id]
        events = await reader.until(lambda e, d: e == "stats" and d["undecodable"] == 3)
    stats = events[-1][1]
    assert stats["received"] == 1
    assert stats["last_undecodable"].startswith(subject)
    assert server.hub.stats()["undecodable"] == 3


async def test_only_the_watched_namespace_is_streamed(start_prism, open_stream, publish):
    server = await start_prism()
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        await publish(namespace="another-namespace")
        mine = await publish()
        got = await reader.signals(1)
    assert [s["id"] for s in got] == [mine.id]
    assert server.hub.stats()["received"] == 1


async def test_late_viewer_gets_participants_and_history(
    start_prism, open_stream, publish, eventually
):
    server = await start_prism(history=3)
    register = await publish(
        SignalType.REGISTER, {"role": "neuron", "capabilities": ["chat"]}, directed=Directed("echo")
    )
    gone = await publish(SignalType.REGISTER, {"role": "neuron"}, directed=Directed("gone"))
    await publish(SignalType.DEREGISTER, {"reason": "stop"}, directed=Directed("gone"))
    recent = [await publish() for _ in range(3)]
    await eventually(lambda: server.hub.received == 6)
    async with open_stream(server) as (_, reader):
        events = await reader.until(lambda e, _: e == "stats")
    replayed = [s["id"] for e, d in events if e == "replay" for s in d["signals"]]
    # the REGISTER of the live participant survives the short history; "gone" left
    assert replayed == [register.id, *(s.id for s in recent)]
    assert gone.id not in replayed


async def test_slow_viewer_keeps_the_newest_and_is_told_what_it_lost(
    start_prism, open_stream, publish
):
    server = await start_prism(feed_items=16, stats_interval_s=0.1)
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        sent = [await publish() for _ in range(500)]
        events = await reader.until(lambda e, _: e == "signals")
        batch = events[-1][1]
        assert batch["dropped"] == 500 - 16
        assert [s["id"] for s in batch["signals"]] == [s.id for s in sent[-16:]]
        stats = await reader.until(lambda e, d: e == "stats")
        assert stats[-1][1]["feed_dropped"] == 484
    assert server.hub.stats()["dropped"] == 484


async def test_feed_byte_bound_holds_with_large_signals(start_prism, open_stream, publish):
    big = {"output": {"blob": "x" * 4000}}
    server = await start_prism(feed_bytes=20_000, feed_items=10_000)
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        sent = [await publish(SignalType.AGENT_OUTPUT, big) for _ in range(40)]
        events = await reader.until(lambda e, _: e == "signals")
    batch = events[-1][1]
    kept = len(batch["signals"])
    assert 1 <= kept <= 5  # ~4.2 kB each within 20 kB
    assert batch["dropped"] == 40 - kept
    assert batch["signals"][-1]["id"] == sent[-1].id


async def test_oversized_signal_is_sent_as_envelope_only(start_prism, open_stream, publish):
    server = await start_prism(max_signal_bytes=2048)
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        sig = await publish(SignalType.AGENT_OUTPUT, {"output": {"blob": "y" * 10_000}})
        (got,) = await reader.signals(1)
    assert got["id"] == sig.id
    assert got["payload"] == {}
    assert got["prism_truncated"] > 10_000
    assert server.hub.stats()["truncated"] == 1


async def test_payload_markup_travels_as_json_text(start_prism, open_stream, publish):
    server = await start_prism()
    markup = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        await publish(SignalType.AGENT_OUTPUT, {"output": {"html": markup}})
        (got,) = await reader.signals(1)
    assert got["payload"]["output"]["html"] == markup


async def test_too_many_viewers_get_503(start_prism, open_stream, http, eventually):
    server = await start_prism(max_viewers=1)
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        second = await http.get(server.url + "events")
        assert second.status_code == 503
        assert "viewers" in second.text
    # the first viewer left: room again
    await eventually(lambda: server.hub.viewers == 0)
    async with open_stream(server) as (response, _):
        assert response.status_code == 200


async def test_closing_prism_ends_streams_and_leaves_the_synapse_open(
    start_prism, open_stream, synapse
):
    server = await start_prism()
    assert synapse.stats["subscriptions"] == 1
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        await server.aclose()
        async with asyncio.timeout(DEADLINE_S):
            try:
                while True:
                    await reader.next_event()
            except (EOFError, httpx.RemoteProtocolError, httpx.ReadError):
                pass
    assert not synapse.closed
    assert synapse.stats["subscriptions"] == 0


async def test_viewer_disconnect_frees_its_feed(start_prism, open_stream, eventually):
    server = await start_prism()
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        assert server.hub.viewers == 1
    await eventually(lambda: server.hub.viewers == 0)


async def test_stream_rejects_other_methods(start_prism, http):
    server = await start_prism()
    response = await http.post(server.url + "events", content=b"{}")
    assert response.status_code == 405
    assert server.hub.viewers == 0


def test_signal_with_markup_in_ids_is_still_just_json():
    # Guards the splice in sse._batch: frames are compact JSON objects, one line each.
    sig = Signal(type=SignalType.TASK, payload={"input": {"t": "a\nb</script>"}})
    frame = sig.encode()
    assert b"\n" not in frame
