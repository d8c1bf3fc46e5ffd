"""Everything in one process: a MemorySynapse, the workflow, and Prism watching it.

    python watch.py               # then open the printed URL (http://127.0.0.1:7071)
"""

import asyncio
import os

from cosmonapse import MemorySynapse
from cosmonapse_prism import watch
from workflow import NAMESPACE, run

PRISM_PORT = int(os.environ.get("PRISM_PORT", "7071"))  # 0 picks a free port
ROUNDS = int(os.environ.get("ROUNDS", "0"))  # 0: until Ctrl-C


async def main():
    synapse = MemorySynapse()
    try:
        # Prism subscribes to the synapse you hand it; it never closes it.
        async with watch(synapse, NAMESPACE, port=PRISM_PORT) as view:
            print(f"Prism: {view.url}  (namespace {NAMESPACE}; Ctrl-C to stop)")
            await run(synapse, rounds=ROUNDS)
            print("workflow done; Prism stays up until Ctrl-C")
            await asyncio.Event().wait()
    finally:
        await synapse.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("stopped")
