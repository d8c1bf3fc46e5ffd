"""A researcher's process: ``python researchers.py --name a`` or ``--name b``.

a: Neuron ``researcher-a`` recalls passages from the VectorEngram ``library`` that this
   process hosts (six passages, embedded offline by knowledge.embed).
b: Neuron ``researcher-b`` reads the field notes one at a time; each takes NOTE_S seconds
   (0.5 by default), like a slow tool call would.
"""

import asyncio
import contextlib
import os

from cosmonapse import Axon, Dendrite, EngramBinding
from cosmonapse_engram_vector import VectorEngram
from host import arguments, say, serve
from knowledge import FIELD_NOTES, LIBRARY, NAMESPACE, embed, terms

NOTE_S = float(os.environ.get("NOTE_S", "0.5"))


async def researcher_a(input, context, *, recall):
    topic = input["topic"]
    hits = await recall("library", query={"text": topic}, top_k=2, min_confidence=0.2,
                        timeout_s=5)
    facts = [{"text": hit.entry["text"], "source": f"library {hit.entry['ref']}"}
             for hit in hits]
    found = ", ".join(hit.entry["ref"] for hit in hits)
    say(f"researcher-a: {len(facts)} passages from the library ({found})")
    return {"facts": facts}


async def researcher_b(input, context):
    topic = input["topic"]
    wanted = set(terms(topic))
    facts = []
    say(f"researcher-b: reading {len(FIELD_NOTES)} field notes")
    try:
        for n, note in enumerate(FIELD_NOTES, start=1):
            await asyncio.sleep(NOTE_S)  # reading one notebook
            if wanted & set(terms(note)):
                facts.append({"text": note, "source": f"field note {n}"})
    except asyncio.CancelledError:
        say("researcher-b: stopped while reading the field notes (CancelledError)")
        raise
    say(f"researcher-b: {len(facts)} of {len(FIELD_NOTES)} field notes match")
    return {"facts": facts}


def build(name):
    def dendrite(synapse):
        node = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=f"researchers-{name}",
                        role="worker")
        if name == "a":
            library = VectorEngram(engram_id="library", embed=embed)
            for i, (doc, text) in enumerate(LIBRARY):
                library.imprint(op="upsert", merge_key=f"{doc}#{i}",
                                entry={"ref": f"{doc}#{i}", "text": text})
            node.attach_engram(library)
            node.attach_axon(Axon(neuron_id="researcher-a", neuron_fn=researcher_a,
                                  capabilities=["research"],
                                  engrams=[EngramBinding(name="library", directed_id="library")]))
        else:
            node.attach_axon(Axon(neuron_id="researcher-b", neuron_fn=researcher_b,
                                  capabilities=["research"]))
        return node

    if name == "a":
        ready = f"researchers-a ready: researcher-a, a VectorEngram of {len(LIBRARY)} passages"
    else:
        ready = f"researchers-b ready: researcher-b, {len(FIELD_NOTES)} field notes"
    return dendrite, ready


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0], name={"choices": ["a", "b"], "required": True})
    dendrite, ready = build(args.name)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(dendrite, ready, with_parent=args.with_parent))
