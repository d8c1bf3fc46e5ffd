"""examples/12-prism: the workflow shows up in Prism, both ways the README gives.

The check reads Prism's own event stream (Server-Sent Events over real HTTP), the same
stream the page renders, and counts the Signals of the workflow in it.
"""

from __future__ import annotations

import json
from collections import Counter

import httpx

from tests.examples.runner import ExampleProcesses, cosmo_executable

ROUNDS = 5
# Five rounds: research + write TASKs each; round 4's writer refuses (ERROR, no FINAL).
EXPECTED = {"TASK": 10, "AGENT_OUTPUT": 9, "ERROR": 1, "FINAL": 4}
PRINTED = [
    "round 1: 'tide pools' -> FINAL",
    "round 2: 'lighthouses' -> FINAL",
    "round 3: 'migrating geese' -> FINAL",
    "round 4: 'glaciers' -> ERROR WRITER_BLOCKED",
    "round 5: 'night trains' -> FINAL",
]


def replayed_types(base: str) -> Counter[str]:
    """Open Prism's /events stream and count the Signal types of its replay event."""
    with httpx.Client(base_url=base, timeout=10) as client, client.stream("GET", "/events") as rsp:
        assert rsp.status_code == 200
        assert rsp.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in rsp.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "replay":
                signals = json.loads(line.removeprefix("data: "))["signals"]
                return Counter(s["type"] for s in signals)
    raise AssertionError("the stream ended without a replay event")


def check_prism(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        info = client.get("/api/info").json()
        assert info["namespace"] == "prism-demo"
    types = replayed_types(base)
    assert {t: types[t] for t in EXPECTED} == EXPECTED
    assert types["REGISTER"] >= 2  # the researcher and the writer announced themselves


def test_in_process_watch(procs: ExampleProcesses) -> None:
    env = {"ROUNDS": str(ROUNDS), "PAUSE_S": "0", "PRISM_PORT": "0"}
    watcher = procs.start("12-prism", "watch.py", env=env)
    base = watcher.wait_for(r"^Prism: (http://127\.0\.0\.1:\d+)/  \(namespace prism-demo")[0][1]
    watcher.wait_for(r"^workflow done; Prism stays up until Ctrl-C$")
    assert [line for line in watcher.lines if line.startswith("round ")] == PRINTED
    check_prism(base)
    watcher.stop()
    assert watcher.lines[-1] == "stopped"


def test_dev_synapse_and_cosmo_prism(procs: ExampleProcesses) -> None:
    url = procs.dev_synapse("prism-demo")
    prism = procs.command(
        "cosmo prism",
        [
            cosmo_executable(),
            "prism",
            "--url",
            url,
            "-n",
            "prism-demo",
            "--port",
            "0",
            "--no-browser",
        ],
    )
    base = prism.wait_for(r"^Prism: (http://127\.0\.0\.1:\d+)/")[0][1]
    workflow = procs.start(
        "12-prism", "workflow.py", env={"SYNAPSE_URL": url, "ROUNDS": str(ROUNDS), "PAUSE_S": "0"}
    )
    assert workflow.wait_exit() == 0, workflow.output
    assert workflow.lines == PRINTED
    check_prism(base)
