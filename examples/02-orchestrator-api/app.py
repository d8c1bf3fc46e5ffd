"""An HTTP edge: each POST /ask becomes a TASK on the bus, and the reply becomes the
HTTP response. A plain ASGI app (no framework) served by uvicorn.

    python app.py                       # http://127.0.0.1:8000, bus: in-process memory://
    curl -s -X POST localhost:8000/ask -d '{"question": "what is an Axon?"}'
"""

import json
import os

import uvicorn
from cosmonapse import Axon, Dendrite, DispatchTimeoutError, SignalType, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
PORT = int(os.environ.get("PORT", "8000"))
NAMESPACE = "orchestrator-api"
MAX_BODY_BYTES = 64 * 1024

GLOSSARY = {
    "neuron": "A Neuron is a plain async function: a dict in, a dict out.",
    "axon": "An Axon wraps one Neuron and turns what it returns into Signals.",
    "dendrite": "A Dendrite is a participant on the bus: it hosts Axons and sends TASKs.",
    "synapse": "The Synapse is the bus itself: in process, the dev synapse, or NATS.",
    "engram": "An Engram is shared memory on the bus, with a saga journal per trace.",
}


# The Neuron behind the API. Anything slow or flaky belongs here, not in the HTTP edge.
async def glossary(input, context):
    question = input["question"].lower()
    for term, answer in GLOSSARY.items():
        if term in question:
            return {"term": term, "answer": answer}
    return {"term": None, "answer": "No entry for that yet; try asking about a Synapse."}


class Bus:
    """The bus side of the app: one connection, a worker hosting the Neuron and an
    orchestrator that turns requests into TASKs. Started and stopped by the lifespan."""

    async def start(self):
        self.synapse = await connect_synapse(SYNAPSE_URL)
        self.worker = Dendrite(synapse=self.synapse, namespace=NAMESPACE,
                               dendrite_id="glossary-worker", role="worker")
        self.worker.attach_axon(Axon(neuron_id="glossary", neuron_fn=glossary))
        self.orchestrator = Dendrite(synapse=self.synapse, namespace=NAMESPACE,
                                     dendrite_id="http-edge")
        await self.worker.start()
        await self.orchestrator.start()

    async def stop(self):
        await self.orchestrator.stop()
        await self.worker.stop()
        await self.synapse.close()

    async def ask(self, question):
        """Returns (HTTP status, JSON body)."""
        try:
            reply = await self.orchestrator.dispatch_and_wait(
                neuron="glossary", input={"question": question}, timeout_s=10
            )
        except DispatchTimeoutError as exc:
            return 504, {"error": "TIMEOUT", "message": str(exc)}
        if reply.type is SignalType.ERROR:
            return 502, {"error": reply.payload.get("code"),
                         "message": reply.payload.get("message"), "trace_id": reply.trace_id}
        return 200, {**reply.payload["output"], "answered_by": reply.neuron,
                     "trace_id": reply.trace_id}


bus = Bus()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        status, body = await route(scope, receive)
        await send_json(send, status, body)


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await bus.start()
            except Exception as exc:  # e.g. no synapse at SYNAPSE_URL: say so and exit
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await bus.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def route(scope, receive):
    method, path = scope["method"], scope["path"]
    if path == "/health" and method == "GET":
        return 200, {"ok": True}
    if path != "/ask":
        return 404, {"error": "NOT_FOUND", "message": f"no route {path}"}
    if method != "POST":
        return 405, {"error": "METHOD_NOT_ALLOWED", "message": "use POST"}
    raw = await read_body(receive)
    if raw is None:
        return 413, {"error": "TOO_LARGE", "message": f"body over {MAX_BODY_BYTES} bytes"}
    try:
        question = json.loads(raw)["question"]
    except (ValueError, KeyError, TypeError):
        question = None
    if not isinstance(question, str) or not question.strip():
        return 400, {"error": "BAD_REQUEST", "message": 'send {"question": "..."}'}
    return await bus.ask(question)


async def read_body(receive):
    """The request body, or None when it is larger than MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_json(send, status, body):
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
