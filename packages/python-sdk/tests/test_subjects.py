"""Subjects (docs/protocol.md section 3): naming, validation and wildcard matching."""

from __future__ import annotations

import pytest
from cosmonapse import SubjectError
from cosmonapse.subjects import (
    capability_group,
    namespace_wildcard,
    routed_task_subject,
    signal_subject,
    subject_matches,
    validate_namespace,
    validate_queue_group,
    validate_subject,
)


def test_subject_names() -> None:
    assert signal_subject("quickstart", "TASK") == "cosmonapse.quickstart.TASK"
    assert routed_task_subject("quickstart") == "cosmonapse.quickstart.TASK.routed"
    assert namespace_wildcard("quickstart") == "cosmonapse.quickstart.>"


@pytest.mark.parametrize("namespace", ["quickstart", "retry-demo", "a", "ns_1", "Ünïcode", "a:b"])
def test_valid_namespaces(namespace: str) -> None:
    assert validate_namespace(namespace) == namespace


@pytest.mark.parametrize(
    "namespace",
    [
        "",
        "a.b",
        ".",
        "a*",
        "*",
        ">",
        "ns>",
        "a b",
        " a",
        "a\t",
        "a\n",
        "a\r",
        "a\x00",
        "a\x1b",
        "a\x7f",
        "\u2003",
    ],
    ids=[
        "empty",
        "dot",
        "only-dot",
        "star-inside",
        "star",
        "gt",
        "gt-inside",
        "space",
        "leading-space",
        "tab",
        "newline",
        "cr",
        "nul",
        "escape",
        "del",
        "em-space",
    ],
)
def test_invalid_namespaces(namespace: str) -> None:
    with pytest.raises(SubjectError):
        validate_namespace(namespace)


def test_a_namespace_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(SubjectError):
        validate_namespace(None)  # type: ignore[arg-type]


def test_subject_builders_validate_the_namespace() -> None:
    with pytest.raises(SubjectError):
        signal_subject("bad.ns", "TASK")
    with pytest.raises(SubjectError):
        routed_task_subject("bad ns")
    with pytest.raises(SubjectError):
        namespace_wildcard("bad>")


def test_the_namespace_error_names_the_culprit() -> None:
    with pytest.raises(SubjectError, match=r"'\.'"):
        validate_namespace("a.b")
    with pytest.raises(SubjectError, match="whitespace or a control character"):
        validate_namespace("a\nb")


@pytest.mark.parametrize(
    "subject",
    [
        "cosmonapse.ns.TASK",
        "cosmonapse.ns.TASK.routed",
        "a",
        "cosmonapse.*.TASK",
        "cosmonapse.ns.>",
        ">",
        "*",
        "*.*",
    ],
)
def test_valid_subscription_subjects(subject: str) -> None:
    assert validate_subject(subject) == subject


@pytest.mark.parametrize(
    "subject",
    [
        "",
        ".",
        "a.",
        ".a",
        "a..b",
        "a b",
        "a.b c",
        "a\n",
        "a.\x00",
        "a.\x7f",
        "a.>.b",
        "a.b*",
        "a.*b",
        "a.>b",
        "a.b>",
    ],
)
def test_invalid_subjects(subject: str) -> None:
    with pytest.raises(SubjectError):
        validate_subject(subject)


@pytest.mark.parametrize("subject", ["a.*", "a.>", "*", "cosmonapse.ns.*"])
def test_a_published_subject_may_not_hold_wildcards(subject: str) -> None:
    validate_subject(subject)  # fine for subscribing
    with pytest.raises(SubjectError, match="wildcards"):
        validate_subject(subject, wildcards=False)


@pytest.mark.parametrize("group", ["caps:chat", "caps:a,b", "workers", "g-1"])
def test_valid_queue_groups(group: str) -> None:
    assert validate_queue_group(group) == group


@pytest.mark.parametrize("group", ["", "a b", "a\n", "a\x00"])
def test_invalid_queue_groups(group: str) -> None:
    with pytest.raises(SubjectError):
        validate_queue_group(group)


MATCHES = [
    # pattern, subject, matches
    ("cosmonapse.ns.TASK", "cosmonapse.ns.TASK", True),
    ("cosmonapse.ns.TASK", "cosmonapse.ns.FINAL", False),
    ("cosmonapse.ns.TASK", "cosmonapse.ns.TASK.routed", False),
    ("cosmonapse.ns.*", "cosmonapse.ns.TASK", True),
    ("cosmonapse.ns.*", "cosmonapse.ns.TASK.routed", False),
    ("cosmonapse.ns.*", "cosmonapse.ns", False),
    ("cosmonapse.*.TASK", "cosmonapse.ns.TASK", True),
    ("cosmonapse.*.TASK", "cosmonapse.other.TASK", True),
    ("cosmonapse.*.TASK", "cosmonapse.ns.FINAL", False),
    ("cosmonapse.ns.>", "cosmonapse.ns.TASK", True),
    ("cosmonapse.ns.>", "cosmonapse.ns.TASK.routed", True),
    ("cosmonapse.ns.>", "cosmonapse.ns", False),
    ("cosmonapse.ns.>", "cosmonapse.other.TASK", False),
    ("cosmonapse.>", "cosmonapse.ns.TASK", True),
    (">", "anything.at.all", True),
    (">", "one", True),
    ("*", "one", True),
    ("*", "one.two", False),
    ("*.*", "one.two", True),
    ("*.>", "one", False),
    ("*.>", "one.two.three", True),
    ("cosmonapse.ns.TASK.*", "cosmonapse.ns.TASK.routed", True),
    ("cosmonapse.ns.TASK.*", "cosmonapse.ns.TASK", False),
    ("cosmonapse.ns1.>", "cosmonapse.ns.TASK", False),
    ("cosmonapse.n.>", "cosmonapse.ns.TASK", False),
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), MATCHES)
def test_wildcard_matching(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def test_capability_group_sorts_and_dedupes() -> None:
    assert capability_group(["chat", "code"]) == "caps:chat,code"
    assert capability_group(["code", "chat"]) == "caps:chat,code"
    assert capability_group(["code", "chat", "code", "chat"]) == "caps:chat,code"
    assert capability_group(iter(["b", "a", "c"])) == "caps:a,b,c"
    assert capability_group(["solo"]) == "caps:solo"
    assert validate_queue_group(capability_group(["z", "a"])) == "caps:a,z"
