"""Running one worker process of the team: connect, start the Dendrite, say it is ready,
serve until Ctrl-C or SIGTERM (or, when team.py started it, until team.py goes away)."""

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading

from cosmonapse import connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # the only line per transport


def say(text):
    """One line of this process's story (team.py collects them)."""
    print(text, flush=True)


def arguments(description, **extra):
    parser = argparse.ArgumentParser(description=description)
    for flag, options in extra.items():
        parser.add_argument(f"--{flag}", **options)
    # team.py holds this process's stdin open; when it ends, this process ends too.
    parser.add_argument("--with-parent", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


async def serve(dendrite, ready, *, with_parent=False):
    """Start ``dendrite`` (built on the synapse passed to it), print ``ready``, and serve."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, done.set)
    if with_parent:
        def watch_stdin():
            sys.stdin.buffer.read()  # returns at EOF: the parent has gone
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
    synapse = await connect_synapse(SYNAPSE_URL)
    try:
        async with dendrite(synapse):
            say(ready)
            await done.wait()
    finally:
        with contextlib.suppress(Exception):
            await synapse.close()
