"""The examples' shape: every numbered folder has a README and is listed, in order, in
examples/README.md; 06 stays the quickstart's code; the top-level README's first command
works as written."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys

from tests.examples.runner import EXAMPLES, example_env

URL_LINE = (
    'SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")'
    " # ← the only line that changes per transport"
)
FOLDERS = sorted(p.name for p in EXAMPLES.iterdir() if re.match(r"\d\d-", p.name))


def test_numbered_folders_in_sequence_each_with_a_readme() -> None:
    assert len(FOLDERS) >= 16
    assert [f[:2] for f in FOLDERS] == [f"{i:02d}" for i in range(1, len(FOLDERS) + 1)]
    for folder in FOLDERS:
        readme = EXAMPLES / folder / "README.md"
        assert readme.is_file(), folder
        text = readme.read_text()
        assert re.search(r"```console\n(#.*\n)*\$ ", text), f"{folder}: no commands to run"


def test_index_lists_every_example_in_order() -> None:
    index = (EXAMPLES / "README.md").read_text()
    linked = re.findall(r"\]\((\d\d-[a-z-]+)\)", index)
    assert linked == FOLDERS


# The quickstart's worker, line by line (whitespace collapsed). Lines marked None are the
# ones the example's README says it changes.
SEED_WORKER = [
    "import asyncio, hashlib, os",
    "from cosmonapse import Axon, Neuron, Dendrite, SignalType, connect_synapse",
    None,  # SYNAPSE_URL = "cosmo://127.0.0.1:7070" # ← the only line that changes per transport
    'NAMESPACE = "quickstart"',
    'MY_ID = "worker-a" # worker-b differs only here',
    'PEERS = ("worker-a", "worker-b") # every peer knows the pool',
    "def owner_of(trace_id: str) -> str:",
    '"""Pure function: every peer computes the SAME owner — no coordination."""',
    "h = int(hashlib.sha1(trace_id.encode()).hexdigest(), 16)",
    "return PEERS[h % len(PEERS)]",
    "async def main():",
    "# The Axon is NOT attached — we route by hash, not by neuron-id.",
    "axon = Axon(",
    "neuron_id=MY_ID,",
    "neuron_fn=Neuron(",
    'source="huggingface",',
    None,  # endpoint="https://router.huggingface.co",
    'model="meta-llama/Llama-3.1-8B-Instruct",',
    None,  # api_key=os.environ["HF_TOKEN"],
    "use_chat_api=True,",
    "max_new_tokens=128,",
    "),",
    'capabilities=["chat"],',
    ")",
    "synapse = await connect_synapse(SYNAPSE_URL)",
    "dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=MY_ID, heartbeat_s=0)",
    "async def on_task(task):",
    "if owner_of(task.trace_id) != MY_ID:",
    "return # a peer owns this one",
    'print(f"[{MY_ID}] claims {task.trace_id[4:12]}")',
    "reply = await axon.handle_task(task) # run the Neuron",
    "await dendrite.publish(reply) # emit AGENT_OUTPUT",
    "try:",
    "async with dendrite:",
    "await dendrite.subscribe(SignalType.TASK, on_task)",
    'print(f"{MY_ID} listening — no cortex, no queue")',
    "await asyncio.Event().wait()",
    "finally:",
    "await synapse.close()",
    "asyncio.run(main())",
]


def _lines(path: str) -> list[str]:
    text = (EXAMPLES / "06-no-orchestrator" / path).read_text()
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_06_worker_is_the_quickstart_with_the_documented_changes() -> None:
    lines = _lines("worker_a.py")
    at = 0
    for expected in SEED_WORKER:
        if expected is None:
            continue
        at = lines.index(expected, at) + 1  # ValueError names a line that drifted
    assert URL_LINE in lines
    assert "endpoint=ENDPOINT," in lines
    assert "api_key=API_KEY," in lines
    # Everything else is seed code: the added lines are exactly the endpoint switch.
    seed = [line for line in SEED_WORKER if line is not None]
    added = [line for line in lines if line not in seed]
    assert added == [
        URL_LINE,
        "# With HF_TOKEN: the real router, as in the quickstart. Without: the local stand-in",
        "# (python -m cosmonapse_neuron_hf.standin --port 8089), which needs no key.",
        'HF_TOKEN = os.environ.get("HF_TOKEN")',
        'ENDPOINT = ("https://router.huggingface.co" if HF_TOKEN',
        'else os.environ.get("COSMO_HF_ENDPOINT", "http://127.0.0.1:8089"))',
        'API_KEY = HF_TOKEN or "offline-stand-in"',
        "endpoint=ENDPOINT,",
        "api_key=API_KEY,",
    ]


def test_06_workers_differ_only_in_their_id() -> None:
    diff = [
        line
        for line in difflib.unified_diff(_lines("worker_a.py"), _lines("worker_b.py"), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '-MY_ID = "worker-a" # worker-b differs only here',
        '+MY_ID = "worker-b" # worker-a differs only here',
    ]


def test_top_level_readme_command_runs_from_the_repository_root() -> None:
    done = subprocess.run(
        [sys.executable, "examples/13-retry/demo.py"],
        cwd=EXAMPLES.parent,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert "index size after rollback: 0  (clean)" in done.stdout
