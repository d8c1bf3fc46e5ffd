"""``python -m cosmonapse_neuron_hf.standin``: serve the stand-in until interrupted.

Prints the URL on the first line of stdout (then nothing else there), logs requests to
stderr unless ``--quiet``, and exits 0 on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from ._server import StandInServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cosmonapse_neuron_hf.standin",
        description="Serve a loopback stand-in for the HF chat and TGI generate APIs "
        "(deterministic answers; for tests and examples without a token).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument(
        "--token", default=None, help="require 'Authorization: Bearer TOKEN' on every request"
    )
    parser.add_argument(
        "--slow-s", type=float, default=60.0, help="delay of the 'slow' fault (default %(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows' default loop
            loop.add_signal_handler(sig, stop.set)
    async with StandInServer(args.host, args.port, token=args.token, slow_s=args.slow_s) as server:
        print(server.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in; returns the process exit status."""
    args = _parser().parse_args(argv)
    if not args.quiet:
        logging.basicConfig(stream=sys.stderr, format="%(message)s")
        logging.getLogger("cosmonapse_neuron_hf.standin").setLevel(logging.DEBUG)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
