"""The desk's process: ``python desk.py`` hosts the planner and the writer.

The planner delegates inside its own trace: both researchers at once (by neuron id, with
asyncio.gather), then the writer (by capability). The writer combines the facts.
"""

import asyncio
import contextlib
import textwrap

from cosmonapse import Axon, Dendrite
from host import arguments, say, serve
from knowledge import NAMESPACE


async def planner(input, context, *, call):
    topic = input["topic"]
    try:
        found = await asyncio.gather(
            call(neuron="researcher-a", input={"topic": topic}),
            call(neuron="researcher-b", input={"topic": topic}),
        )
    except asyncio.CancelledError:
        say("planner: stopped while waiting for the researchers (CancelledError)")
        raise
    facts = [fact for part in found for fact in part["facts"]]
    note = await call(capabilities=["write"], input={"topic": topic, "facts": facts})
    say(f"planner: {len(facts)} facts from researcher-a and researcher-b, "
        f"written up by the writer")
    return note


async def writer(input, context):
    facts = input["facts"]
    sources = list(dict.fromkeys(fact["source"] for fact in facts))
    body = " ".join(f"{fact['text']} [{sources.index(fact['source']) + 1}]" for fact in facts)
    text = "\n".join(textwrap.wrap(f"{input['topic'].capitalize()}. {body}", width=80))
    say(f"writer: {len(facts)} facts from {len(sources)} sources, {len(text.split())} words")
    return {"text": text, "sources": sources}


def dendrite(synapse):
    desk = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="desk", role="worker")
    desk.attach_axon(Axon(neuron_id="planner", neuron_fn=planner, capabilities=["plan"]))
    desk.attach_axon(Axon(neuron_id="writer", neuron_fn=writer, capabilities=["write"]))
    return desk


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(dendrite, "desk ready: planner, writer", with_parent=args.with_parent))
