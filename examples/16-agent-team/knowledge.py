"""What the researchers know, offline: a small library of passages (loaded into a
VectorEngram by researcher a) and a stack of field notes (read one by one by researcher
b), plus the hashed bag-of-words embedding the library uses. No model, no network."""

import hashlib
import re

NAMESPACE = "agent-team"

LIBRARY = [
    ("delegation.md", "A Neuron that declares a call parameter can ask other agents for "
     "help; each child TASK keeps the trace id of its parent."),
    ("delegation.md", "A child TASK gets what is left of its root's deadline, so no "
     "child outlives the wait of the caller that started the team."),
    ("stop.md", "Stopping a trace reaches every Dendrite in every process; each one "
     "cancels the runs of its agents and acknowledges with a STOPPED signal."),
    ("stop.md", "After a STOP a Dendrite publishes nothing more of the trace but its "
     "acknowledgement, so late answers of stopped agents never arrive."),
    ("engrams.md", "An Engram keeps a saga journal per trace; a rollback replays the "
     "inverse operations of a stopped trace, newest first."),
    ("transports.md", "The dev synapse is a small broker for development; NATS carries "
     "the same signals in production."),
]

FIELD_NOTES = [
    "Tuesday: the user cancelled a report, and every agent of the team stopped at once.",
    "Wednesday: a researcher was halfway through its notes when the trace was stopped.",
    "Thursday: the writer waited for both researchers before it wrote a single line.",
]

STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "each", "for", "from", "has",
    "in", "is", "it", "its", "no", "of", "on", "or", "so", "that", "the", "then", "to",
    "was", "what", "when", "who", "with",
}
WORD = re.compile(r"[a-z]+")
DIM = 256


def terms(text):
    """The content words of ``text``, crudely stemmed ("stopped" ~ "stop")."""
    for word in WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                if len(word) > 3 and word[-1] == word[-2]:  # "stopp" -> "stop"
                    word = word[:-1]
                break
        yield word


def embed(text):
    """A deterministic stand-in for an embedding model: hashed word counts."""
    vector = [0.0] * DIM
    for term in terms(text):
        vector[int(hashlib.blake2b(term.encode(), digest_size=4).hexdigest(), 16) % DIM] += 1.0
    return vector
