"""Retrieval-augmented answers: ingest documents into a VectorEngram through one Neuron,
answer questions through another that recalls the closest chunks and cites them.

Offline by default: a local hashed bag-of-words embedding and an extractive answer
(the best-matching sentences, each with its source number). With HF_TOKEN set, the
answer is written by a model on the Hugging Face router from the same retrieved chunks.

    python rag.py
"""

import asyncio
import hashlib
import os
import re

from cosmonapse import Axon, Dendrite, EngramBinding, Neuron, connect_synapse
from documents import DOCUMENTS
from vector_engram import VectorEngram

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "rag"
HF_TOKEN = os.environ.get("HF_TOKEN")
QUESTIONS = [
    "How do I roll back a failed workflow?",
    "Which transport should I use for a real deployment?",
    "What happens to a stuck attempt on retry?",
    "Who runs a TASK that asks for capabilities?",
    "What is the capital of France?",
]

# -- a local embedding: good enough to find the right paragraph, free and offline -------

STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "each", "for",
    "from", "has", "how", "i", "in", "is", "it", "its", "of", "on", "or", "should", "so",
    "that", "the", "then", "there", "this", "to", "use", "what", "when", "which", "who",
    "why", "will", "with",
}
WORD = re.compile(r"[a-z][a-z_]+")
DIM = 256


def terms(text):
    for word in WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        for suffix in ("ing", "ed", "es", "s"):  # a crude stemmer: "stops" ~ "stop"
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        yield word


def embed(text):
    vector = [0.0] * DIM
    for term in terms(text):
        vector[int(hashlib.blake2b(term.encode(), digest_size=4).hexdigest(), 16) % DIM] += 1.0
    return vector


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return dot / norm if norm else 0.0


def sentences(text):
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def chunk(text, per_chunk=2):
    parts = sentences(text)
    return [" ".join(parts[i:i + per_chunk]) for i in range(0, len(parts), per_chunk)]


# -- the two Neurons ----------------------------------------------------------------------

async def ingest(input, context, *, imprint):
    """Write one document as chunks; the Engram embeds each chunk's text."""
    pieces = chunk(input["text"])
    for i, piece in enumerate(pieces):
        await imprint("docs", op="upsert", merge_key=f"{input['doc_id']}#{i}", entry={
            "doc_id": input["doc_id"], "title": input["title"], "chunk": i, "text": piece,
        })
    return {"doc_id": input["doc_id"], "chunks": len(pieces)}


async def answer(input, context, *, recall):
    """Recall the closest chunks and answer from them, citing each as [n]."""
    question = input["question"]
    if not any(embed(question)):
        return {"answer": "Please ask about something.", "sources": []}
    hits = await recall("docs", query={"text": question}, top_k=3, min_confidence=0.2)
    if not hits:
        return {"answer": "The documents say nothing about that.", "sources": []}
    sources = [{"n": n, "ref": f"{h.entry['doc_id']}#{h.entry['chunk']}",
                "title": h.entry["title"], "score": round(h.score, 2)}
               for n, h in enumerate(hits, start=1)]
    if HF_TOKEN:
        text = await generate(question, hits, context)
    else:
        text = extract(question, hits)
    return {"answer": text, "sources": sources}


def extract(question, hits):
    """The sentences of the retrieved chunks that share the most terms with the question
    (at most two, in reading order), each cited with its source number."""
    wanted = set(terms(question))
    candidates = [(len(wanted & set(terms(s))), n, s)
                  for n, hit in enumerate(hits, start=1) for s in sentences(hit.entry["text"])]
    top = max(overlap for overlap, _, _ in candidates)
    best = [(n, s) for overlap, n, s in candidates if overlap == top][:2]
    return " ".join(f"{s} [{n}]" for n, s in best)


async def generate(question, hits, context):
    llm = Neuron(source="huggingface", endpoint="https://router.huggingface.co",
                 model="meta-llama/Llama-3.1-8B-Instruct", use_chat_api=True,
                 max_new_tokens=160, temperature=0.1)
    numbered = "\n".join(f"[{n}] {h.entry['text']}" for n, h in enumerate(hits, start=1))
    prompt = (f"Answer the question in two sentences using only these sources, and cite "
              f"them as [n].\n\n{numbered}\n\nQuestion: {question}")
    try:
        return (await llm({"prompt": prompt}, context))["response"].strip()
    finally:
        await llm.aclose()


# -- wiring -------------------------------------------------------------------------------

async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    docs = VectorEngram(engram_id="docs", embed=embed)

    library = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="library",
                       role="worker")
    library.attach_engram(docs)

    bind = EngramBinding(name="docs", directed_id="docs")
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(Axon(neuron_id="ingester", neuron_fn=ingest, engrams=[bind]))
    worker.attach_axon(Axon(neuron_id="answerer", neuron_fn=answer, engrams=[bind]))

    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="orchestrator")
    try:
        async with library, worker, orchestrator:
            for doc in DOCUMENTS:
                # finalize=True: a FINAL commits the ingest (it can no longer be rolled back).
                await orchestrator.dispatch_and_wait(neuron="ingester", input=doc,
                                                     finalize=True, timeout_s=10)
            print(f"ingested {len(DOCUMENTS)} documents as {len(docs)} chunks"
                  + ("" if HF_TOKEN else " (offline: local embedding, extractive answers)"))
            for question in QUESTIONS:
                reply = await orchestrator.dispatch_and_wait(
                    neuron="answerer", input={"question": question}, timeout_s=60
                )
                output = reply.payload["output"]
                print(f"\nQ: {question}\nA: {output['answer']}")
                for s in output["sources"]:
                    print(f"   [{s['n']}] {s['ref']}  {s['title']!r}  score {s['score']}")
    finally:
        await synapse.close()


asyncio.run(main())
