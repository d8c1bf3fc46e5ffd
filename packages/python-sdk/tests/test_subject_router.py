"""SubjectRouter (cosmonapse.synapses.router): subject matching of docs/protocol.md
section 3, one member per queue group round-robin, a turn passed on when a member
refuses, and a route cache that is bounded and forgets removed subscribers."""

from __future__ import annotations

from cosmonapse.synapses.router import SubjectRouter


class Sub:
    def __init__(self, name: str) -> None:
        self.name = name
        self.got: list[str] = []

    def take(self, subject: str) -> bool:
        self.got.append(subject)
        return True


def test_plain_subscribers_get_every_match_and_wildcards_follow_the_protocol() -> None:
    router: SubjectRouter[Sub] = SubjectRouter()
    exact, star, tail, other = Sub("exact"), Sub("star"), Sub("tail"), Sub("other")
    router.add(exact, "a.b.c")
    router.add(star, "a.*.c")
    router.add(tail, "a.>")
    router.add(other, "x.>")
    for subject in ("a.b.c", "a.z.c", "a.b", "a"):
        router.fan_out(subject, lambda s, subject=subject: s.take(subject))
    assert exact.got == ["a.b.c"]
    assert star.got == ["a.b.c", "a.z.c"]
    assert tail.got == ["a.b.c", "a.z.c", "a.b"]
    assert other.got == []
    assert router.subscribers() == [exact, star, tail, other]


def test_one_member_of_each_queue_group_in_turn() -> None:
    router: SubjectRouter[Sub] = SubjectRouter()
    members = [Sub(f"w{i}") for i in range(3)]
    for member in members:
        router.add(member, "jobs.*", "workers")
    watcher = Sub("watcher")
    router.add(watcher, "jobs.>")
    for n in range(9):
        assert router.fan_out(f"jobs.{n}", lambda s: s.take("x")) == 2
    assert [len(m.got) for m in members] == [3, 3, 3]
    assert len(watcher.got) == 9


def test_a_refusing_member_passes_its_turn_on() -> None:
    router: SubjectRouter[Sub] = SubjectRouter()
    gone, alive = Sub("gone"), Sub("alive")
    router.add(gone, "s", "g")
    router.add(alive, "s", "g")
    for _ in range(4):
        assert router.fan_out("s", lambda s: s is alive and s.take("s")) == 1
    assert len(alive.got) == 4


def test_removal_and_a_bounded_cache() -> None:
    router: SubjectRouter[Sub] = SubjectRouter(cache_size=2)
    sub = Sub("s")
    router.add(sub, ">")
    for n in range(10):
        router.route(f"subject.{n}")
    assert router.cached_route("subject.0") is None  # evicted: the cache holds two
    assert router.cached_route("subject.9") is not None
    assert sub in router and len(router) == 1
    assert router.remove(sub) is True
    assert router.remove(sub) is False
    assert router.route("subject.9").plain == ()
    assert router.fan_out("subject.9", lambda s: s.take("x")) == 0
