"""examples/03-round-robin and 04-queue-groups: workers and a driver as separate
processes on one bus (a dev synapse, or a real nats-server), started as the READMEs say."""

from __future__ import annotations

import re

import pytest

from tests.examples.conftest import bus_url
from tests.examples.runner import ExampleProcesses

TRANSPORTS = ["cosmo", "nats"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_03_round_robin(transport: str, procs: ExampleProcesses) -> None:
    env = {"SYNAPSE_URL": bus_url(transport, procs, "round-robin")}
    workers = [
        procs.start("03-round-robin", "worker.py", w, env=env) for w in ("worker-1", "worker-2")
    ]
    # No need to wait for the workers: the orchestrator waits for their REGISTER.
    orchestrator = procs.start("03-round-robin", "orchestrator.py", env=env)
    assert orchestrator.wait_exit() == 0, orchestrator.output
    assert orchestrator.lines == [
        "task 0 -> worker-1: ALPHA!",
        "task 1 -> worker-2: BRAVO!",
        "task 2 -> worker-1: CHARLIE!",
        "task 3 -> worker-2: DELTA!",
        "task 4 -> worker-1: ECHO!",
        "task 5 -> worker-2: FOXTROT!",
    ]
    for worker in workers:
        worker.stop()
    assert workers[0].lines == [
        "worker-1 ready",
        "[worker-1] task 0: 'alpha'",
        "[worker-1] task 2: 'charlie'",
        "[worker-1] task 4: 'echo'",
    ]
    assert workers[1].lines == [
        "worker-2 ready",
        "[worker-2] task 1: 'bravo'",
        "[worker-2] task 3: 'delta'",
        "[worker-2] task 5: 'foxtrot'",
    ]


WORDS = ["stressed", "drawer", "diaper", "spoons", "reward", "repaid", "deliver", "straw"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_04_queue_groups(transport: str, procs: ExampleProcesses) -> None:
    env = {"SYNAPSE_URL": bus_url(transport, procs, "queue-groups")}
    workers = {
        w: procs.start("04-queue-groups", "worker.py", w, env=env) for w in ("worker-1", "worker-2")
    }
    for name, worker in workers.items():
        worker.wait_for(rf"^{name} ready \(queue group 'pool'\)$")
    producer = procs.start("04-queue-groups", "producer.py", env=env)
    assert producer.wait_exit() == 0, producer.output
    for worker in workers.values():
        worker.stop()

    answered = {}
    for line in producer.lines[:-1]:
        match = re.fullmatch(r"\s*'(\w+)' -> '(\w+)'\s+by (worker-\d)", line)
        assert match, line
        word, reversed_word, who = match.groups()
        assert reversed_word == word[::-1]
        answered[word] = who
    assert list(answered) == WORDS

    # Each TASK went to exactly one member of the group: the one that answered it.
    for name, worker in workers.items():
        got = re.findall(rf"^\[{name}\] got '(\w+)'$", worker.output, re.MULTILINE)
        assert sorted(got) == sorted(w for w, who in answered.items() if who == name)
    counts = {name: list(answered.values()).count(name) for name in sorted(set(answered.values()))}
    assert producer.lines[-1] == "answers per worker: " + ", ".join(
        f"{w}={n}" for w, n in counts.items()
    )
