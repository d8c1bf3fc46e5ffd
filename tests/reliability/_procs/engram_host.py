"""An engram host process for the durability tests: ``python engram_host.py URL NAMESPACE
KIND PATH``.

It opens the durable Engram ``durable`` of KIND (``sqlite`` or ``vector``, 4-dim) on the
store file PATH, hosts it on a worker Dendrite on the bus at URL and prints ``ready <pid>
<entries>`` (flushed) once it answers IMPRINT and RECALL. A store it cannot open is printed
as ``refused <message>`` with exit status 3. SIGTERM or SIGINT stop it cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from cosmonapse import Dendrite, Engram, EngramStoreError, connect_synapse


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, namespace: str, kind: str, path: str) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    options: dict[str, Any] = {"dim": 4} if kind == "vector" else {}
    try:
        engram = Engram.of_kind(kind, engram_id="durable", path=path, **options)
    except EngramStoreError as exc:
        say(f"refused {exc}")
        return 3
    synapse = await connect_synapse(url, reconnect_delay=0.05, reconnect_max_delay=0.5)
    dendrite = Dendrite(
        synapse=synapse, namespace=namespace, dendrite_id="engram-host", role="worker"
    )
    dendrite.attach_engram(engram)
    await dendrite.start()
    say(f"ready {os.getpid()} {len(engram)}")
    try:
        await stop.wait()
    finally:
        await dendrite.stop()
        await synapse.close()
        close = getattr(engram, "close", None)
        if callable(close):
            close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:5])))
