"""The small corpus the RAG example ingests: four short notes about Cosmonapse itself."""

DOCUMENTS = [
    {
        "doc_id": "synapse-guide",
        "title": "Choosing a Synapse",
        "text": (
            "The Synapse is the bus that carries every Signal between Dendrites. "
            "Three transports ship with Cosmonapse. memory:// keeps everything inside one "
            "process and is the default for tests and demos. cosmo:// is the dev synapse "
            "started by the cosmo command, a TCP server for one machine. nats:// connects "
            "to a NATS server or cluster for real deployments. All three deliver at most "
            "once, and switching between them changes only the URL."
        ),
    },
    {
        "doc_id": "saga-notes",
        "title": "Engrams and rollback",
        "text": (
            "An Engram is shared memory that Neurons reach over the bus. Each write made "
            "under a trace is recorded in a saga journal as its inverse operation. When a "
            "workflow fails, stop_trace with rollback=True replays the journal newest first "
            "and undoes those writes. A FINAL signal commits the trace, after which its "
            "writes can no longer be rolled back."
        ),
    },
    {
        "doc_id": "retry-howto",
        "title": "Retrying a stuck stage",
        "text": (
            "RetryStrategy decides how often and how long to wait for a stage. An attempt "
            "that gives no reply within timeout_s is stuck. Before the retry runs, the "
            "stuck attempt is stopped with a STOP signal, so it cannot keep running behind "
            "the retry, and the retry is dispatched on a fresh trace. After max_attempts "
            "the orchestrator gives up with a TimeoutError."
        ),
    },
    {
        "doc_id": "routing-faq",
        "title": "Routing questions",
        "text": (
            "A TASK can name a neuron id, and then the Dendrite hosting that Axon runs it. "
            "A TASK can instead ask for capabilities, and then one host whose capabilities "
            "cover the request runs it. Workers can also share a queue group, or claim "
            "tasks by hashing the trace id so that no orchestrator is needed."
        ),
    },
]
