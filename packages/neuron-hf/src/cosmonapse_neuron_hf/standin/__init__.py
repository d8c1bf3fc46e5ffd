"""A stand-in for a Hugging Face text-generation server, on loopback. Test use only.

It answers the two APIs the Hugging Face Neuron speaks, over real HTTP/1.1:

* ``POST /v1/chat/completions``: OpenAI-style chat (as the HF router, TGI and vLLM);
* ``POST /generate``: TGI's ``{"inputs", "parameters"}`` -> ``{"generated_text", "details"}``;
* ``GET /health`` and ``GET /info``.

Answers are deterministic one-line texts derived from the prompt (the last user message for
chat); ``max_tokens`` / ``max_new_tokens`` cut them by words, ``stop`` strings cut them
early, and chat answers carry ``usage``. Started with ``token=...``, every request must send
``Authorization: Bearer <token>`` or gets 401; without it, no header is checked.

Faults, for tests only (see :data:`FAULTS`): send ``X-StandIn-Fault: <name>`` or put
``/_fault/<name>`` in front of the path, which lets a client's base URL carry the fault::

    async with StandInServer() as server:
        neuron = HuggingFaceNeuron(endpoint=server.fault_url("429"), use_chat_api=True)
        # every call now gets HTTP 429 with Retry-After: 3

From a shell, ``python -m cosmonapse_neuron_hf.standin --port 8080`` prints its URL and
serves until interrupted.
"""

from ._routes import FAULT_HEADER, FAULT_PREFIX, FAULTS
from ._server import RecordedRequest, StandInServer

__all__ = ["FAULTS", "FAULT_HEADER", "FAULT_PREFIX", "RecordedRequest", "StandInServer"]
