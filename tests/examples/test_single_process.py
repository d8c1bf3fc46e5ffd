"""The single-process examples: each runs to completion on every bus (memory://, a dev
synapse started with ``cosmo synapse start``, a real nats-server) and prints what its
README promises. Only SYNAPSE_URL changes between transports."""

from __future__ import annotations

import re

import pytest

from tests.examples.conftest import bus_url
from tests.examples.runner import ExampleProcesses, Finished, run_example

TRANSPORTS = ["memory", "cosmo", "nats"]


def run_on(transport: str, procs: ExampleProcesses, folder: str, script: str) -> Finished:
    env = {} if transport == "memory" else {"SYNAPSE_URL": bus_url(transport, procs)}
    return run_example(folder, script, env=env)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_01_building_a_neuron(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "01-building-a-neuron", "main.py")
    assert done.lines == [
        "AGENT_OUTPUT from word-stats: {'words': 9, 'longest': 'functions', 'ran_on': 'worker'}",
        "ERROR from word-stats: BAD_INPUT: input needs a 'text' string",
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_05_engram_integration(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "05-engram-integration", "main.py")
    assert done.lines == [
        "fib(90) = 2880067194370816120  [computed]",
        "fib(90) = 2880067194370816120  [cache]",
        "fib(42) = 267914296  [computed]",
        "fib(90) = 2880067194370816120  [cache]",
        "cache entries: 2",
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_07_consistent_hashing(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "07-consistent-hashing", "demo.py")
    lines = done.lines
    # Part 1 is pure arithmetic over fixed keys: the same numbers every run.
    assert lines[:5] == [
        "1. a fourth peer joins three: how many of 10000 traces change owner?",
        "   modulo (owner_of):            7528 move (75.3%)",
        "   ring, 160 virtual nodes:      2618 move (26.2%)   the least possible is 25.0%",
        "   ring load on 4 peers:        peer-1=2404, peer-2=2383, peer-3=2595, peer-4=2618",
        "",
    ]
    # Part 2 uses fresh trace ids: who answers varies, "each once, by its owner" does not.
    assert lines[5] == "2. peers claim TASKs by the ring; nobody coordinates"
    assert lines[6] == lines[9] == "   24 tasks, 24 claims, 24 answered by the ring's owner"
    assert lines[8] == "   worker-5 joins; every peer adds it to its ring"
    for line, peers in ((lines[7], 4), (lines[10], 5)):
        counts = dict(re.findall(r"(worker-\d)=(\d+)", line))
        assert line.startswith("   answers per peer: ")
        assert sum(map(int, counts.values())) == 24
        assert set(counts) <= {f"worker-{i}" for i in range(1, peers + 1)}
    assert len(lines) == 11


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_08_capability_routing(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "08-capability-routing", "demo.py")
    first, balance, translated = done.lines
    assert first == "summarize: 'report number 0 on ...'"
    match = re.fullmatch(r"   8 TASKs, 8 runs, answered by: (.*)", balance)
    assert match, balance
    counts = dict(re.findall(r"([a-z]+(?:-\d)?)=(\d+)", match.group(1)))
    assert sum(map(int, counts.values())) == 8  # each TASK ran once, overlap or not
    assert set(counts) <= {"summarizer-1", "summarizer-2", "polyglot"}
    assert len(counts) >= 2  # the covering hosts share the load
    assert translated == "translate: 'bon matin le bus est calme' by translator"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_09_live_membership(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "09-live-membership", "demo.py")
    lines = done.lines
    # Membership lines from the producer may interleave differently on a network bus;
    # what every worker sees, and that every task was claimed once, may not.
    views = [line for line in lines if "every worker now sees" in line]
    assert views == [
        "   every worker now sees ['worker-a']",
        "   every worker now sees ['worker-a', 'worker-b']",
        "   every worker now sees ['worker-a', 'worker-b', 'worker-c']",
        "   every worker now sees ['worker-b', 'worker-c']",
    ]
    rounds = [line for line in lines if "claims; answers:" in line]
    assert len(rounds) == 3
    for line, members in zip(rounds, (["a", "b"], ["a", "b", "c"], ["b", "c"]), strict=True):
        assert line.startswith("   8 tasks, 8 claims; answers: "), line
        counts = dict(re.findall(r"worker-(\w)=(\d+)", line))
        assert sum(map(int, counts.values())) == 8
        assert set(counts) <= set(members)
    joined = ("+ worker-a joined", "+ worker-b joined", "+ worker-c joined")
    left = ("- worker-a left", "- worker-b left", "- worker-c left")
    for event in joined + left:
        assert lines.count(f"   {event}") == 1, (event, lines)
    # Every worker has left by the end: the demo's last lines are the final two leaves.
    assert sorted(lines[-2:]) == ["   - worker-b left", "   - worker-c left"], lines


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_10_huggingface_neuron(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "10-huggingface-neuron", "main.py")
    lines = done.lines
    assert re.fullmatch(
        r"no HF_TOKEN: started a local stand-in at http://127\.0\.0\.1:\d+ "
        r"\(offline, canned answers\)",
        lines[0],
    ), lines[0]
    assert lines[1:] == [
        "> Write one line about the sea.",
        "  Salt and patience: the sea keeps rewriting the same grey stone.",
        "  [by llm, finish_reason=stop]",
        "> And one about the wind.",
        "  Unseen hands comb the barley and carry the gulls back home.",
        "  [by llm, finish_reason=stop]",
        "> Describe the moon. (max_new_tokens=4)",
        "  A quiet silver coin,",
        "  [by llm, finish_reason=length]",
    ]


RAG_OUTPUT = """\
ingested 4 documents as 9 chunks (offline: local embedding, extractive answers)

Q: How do I roll back a failed workflow?
A: When a workflow fails, stop_trace with rollback=True replays the journal newest first and \
undoes those writes. [1] A FINAL signal commits the trace, after which its writes can no longer \
be rolled back. [1]
   [1] saga-notes#1  'Engrams and rollback'  score 0.39

Q: Which transport should I use for a real deployment?
A: nats:// connects to a NATS server or cluster for real deployments. [1]
   [1] synapse-guide#2  'Choosing a Synapse'  score 0.35
   [2] synapse-guide#0  'Choosing a Synapse'  score 0.35

Q: What happens to a stuck attempt on retry?
A: Before the retry runs, the stuck attempt is stopped with a STOP signal, so it cannot keep \
running behind the retry, and the retry is dispatched on a fresh trace. [1]
   [1] retry-howto#1  'Retrying a stuck stage'  score 0.46
   [2] retry-howto#0  'Retrying a stuck stage'  score 0.26

Q: Who runs a TASK that asks for capabilities?
A: A TASK can instead ask for capabilities, and then one host whose capabilities cover the \
request runs it. [1]
   [1] routing-faq#0  'Routing questions'  score 0.67
   [2] routing-faq#1  'Routing questions'  score 0.28

Q: What is the capital of France?
A: The documents say nothing about that.
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_11_rag(transport: str, procs: ExampleProcesses) -> None:
    done = run_on(transport, procs, "11-rag", "rag.py")
    assert done.stdout == RAG_OUTPUT
