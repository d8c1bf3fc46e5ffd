"""examples/15-durable-work: over nats+js:// a TASK whose worker is killed mid-run is
answered by another worker, once; TASKs wait for a worker; a STOP removes a stored TASK.
The demo starts its own nats-server and workers and does the SIGKILL itself."""

from __future__ import annotations

from tests.examples.runner import EXAMPLES, run_example
from tests.nats_servers import NatsServer

README = EXAMPLES / "15-durable-work" / "README.md"
SERVER_LINES = "nats-server with JetStream started (store in a temporary directory)\n\n"


def promised_output() -> str:
    """The output the README shows under ``$ python demo.py``."""
    text = README.read_text()
    block = text.split("```console\n$ python demo.py\n", 1)[1].split("```", 1)[0]
    return block


def test_readme_promises_the_kill_and_the_one_reply() -> None:
    out = promised_output()
    assert "   kill -9 worker-1 (mid-run: no reply, no ack)\n" in out
    assert "   caller got the reply from worker-2:" in out
    assert out.endswith("replies the caller received for the killed worker's TASK: 1\n")


def test_demo_prints_what_the_readme_shows() -> None:
    done = run_example("15-durable-work", "demo.py")
    assert done.stdout == promised_output(), done.stderr


def test_demo_on_a_server_of_your_own() -> None:
    with NatsServer(jetstream=True) as server:
        url = server.url.replace("nats://", "nats+js://")
        done = run_example("15-durable-work", "demo.py", env={"SYNAPSE_URL": url})
    assert done.stdout == promised_output().removeprefix(SERVER_LINES), done.stderr
