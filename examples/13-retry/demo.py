"""Three resilience scenarios: retry a stalled stage, give up on one that always stalls,
and roll back a half-finished ingest.

    python demo.py                                   # in-process MemorySynapse
    SYNAPSE_URL=cosmo://127.0.0.1:7070 python demo.py
    ENGRAM_PATH=/tmp/retry-vectors.db python demo.py  # a durable VectorEngram
"""

import asyncio
import os

from cosmonapse import RetryStrategy, SignalType, connect_synapse, new_trace_id
from resilient import build, engram_host, make_flaky_generator, open_vectors

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")   # the only line per transport
ENGRAM_PATH = os.environ.get("ENGRAM_PATH")                 # set: the index is on disk

HANDBOOK = (
    "A Dendrite is a participant on the bus. It hosts Axons and Engrams, subscribes to "
    "Signals, publishes them, dispatches TASKs and waits for their answers. An Axon wraps "
    "one Neuron, a plain async function, and turns what it returns into an AGENT_OUTPUT or "
    "an ERROR. An Engram is shared memory reached over the bus. Every write it takes under "
    "a trace is journaled, so a workflow that fails can be rolled back to nothing."
)


def banner(title):
    print("=" * 64)
    print(title)
    print("=" * 64)


def on_retry(attempt, outcome):
    print(f"   attempt {attempt} stuck ({type(outcome).__name__})"
          " -> STOP + re-dispatch on a fresh trace")


async def start_all(dendrites):
    for dendrite in dendrites:
        await dendrite.start()


async def stop_all(dendrites, vectors):
    for dendrite in reversed(dendrites):
        await dendrite.stop()
    vectors.close()                                  # releases the store file, if any


# A stage is "stuck" when it produces no terminal Signal within timeout_s
# (or returns a recoverable ERROR). run_with_retry STOPs the abandoned
# attempt, then re-dispatches on a fresh trace - so a stalled worker can't
# keep running, or keep writing to an Engram, behind the retry.
async def retry_survives_a_stall(synapse):
    banner("1. retry survives a stalled stage")
    generator = make_flaky_generator(stall_first=1)
    dendrites, orch, vectors = build(synapse, generator=generator, path=ENGRAM_PATH)
    await start_all(dendrites)
    try:
        sig = await orch.run_with_retry(
            neuron="generator",
            input={"question": "what is a Dendrite?"},
            retry=RetryStrategy(max_attempts=3, timeout_s=0.5, on_retry=on_retry),
        )
        output = sig.payload["output"]
        print(f"   -> answer on attempt {output['attempt']}: {output['answer']}")
        print(f"   generator was invoked {generator.state['calls']} times total")
    finally:
        await stop_all(dendrites, vectors)
    print()


async def retry_gives_up(synapse):
    banner("2. retry gives up on a stage that always stalls")
    generator = make_flaky_generator(stall_first=99)
    dendrites, orch, vectors = build(synapse, generator=generator, path=ENGRAM_PATH)
    # Every STOP is acknowledged with a STOPPED that counts the runs it cancelled.
    acks = []
    all_acked = asyncio.Event()

    @orch.on_signal(SignalType.STOPPED)
    async def _on_stopped(sig):
        if sig.payload.get("node") == "worker":
            acks.append(sig)
            if len(acks) == 3:
                all_acked.set()

    await start_all(dendrites)
    try:
        try:
            await orch.run_with_retry(
                neuron="generator",
                input={"question": "what is an Axon?"},
                retry=RetryStrategy(max_attempts=3, timeout_s=0.5, on_retry=on_retry),
            )
        except TimeoutError:
            print("   attempt 3 stuck (TimeoutError) -> STOP, no attempts left")
            print("   -> run_with_retry raised TimeoutError after 3 attempts")
        await asyncio.wait_for(all_acked.wait(), timeout=5)
        cancelled = sum(a.payload.get("cancelled", 0) for a in acks)
        print(f"   {len(acks)} attempts STOPped, {cancelled} stalled runs cancelled")
        print(f"   generator was invoked {generator.state['calls']} times total")
    finally:
        await stop_all(dendrites, vectors)
    print()


# With a durable VectorEngram the engram host goes down between the crash and the
# rollback, and a new one loads the index and the saga journal from disk.
async def restart_engram_host(synapse, dendrites, vectors):
    await dendrites[0].stop()
    vectors.close()
    vectors = open_vectors(ENGRAM_PATH)
    dendrites[0] = engram_host(synapse, vectors)
    await dendrites[0].start()
    print(f"   engram host restarted: {len(vectors)} entries and the journal loaded from disk")
    return vectors


async def rollback_a_partial_ingest(synapse):
    banner("3. roll back a half-finished ingest")
    dendrites, orch, vectors = build(synapse, generator=make_flaky_generator(0),
                                     path=ENGRAM_PATH)
    await start_all(dendrites)
    try:
        print(f"   index size before ingest: {len(vectors)}")
        tid = new_trace_id()
        await orch.dispatch_and_wait(
            neuron="ingester",
            input={"doc_id": "handbook", "text": HANDBOOK, "fail_after": 3},
            trace_id=tid,
            timeout_s=10,
        )
        print(f"   index size after crash: {len(vectors)}  (partial write)")
        if ENGRAM_PATH:
            vectors = await restart_engram_host(synapse, dendrites, vectors)

        # rollback=True replays each hosted Engram's per-trace
        # inverse-op journal, undoing a half-finished write (saga rollback).
        acks = await orch.stop_trace(tid, rollback=True, collect_acks=True, timeout_s=0.5)
        compensated = sum(a.payload.get("compensated", 0) for a in acks)
        print(f"   stop_trace(rollback=True): {compensated} inverse ops replayed")
        print(f"   index size after rollback: {len(vectors)}  (clean)")
    finally:
        await stop_all(dendrites, vectors)


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    try:
        await retry_survives_a_stall(synapse)
        await retry_gives_up(synapse)
        await rollback_a_partial_ingest(synapse)
    finally:
        await synapse.close()


asyncio.run(main())
