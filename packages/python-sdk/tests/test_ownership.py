"""Coordination-free ownership: the quickstart's modulo hash and the consistent-hash ring."""

from __future__ import annotations

import hashlib
import random

import pytest
from cosmonapse import HashRing, new_trace_id, owner_of

PEERS = ("worker-a", "worker-b")


def seed_owner_of(trace_id: str) -> str:
    """The quickstart seed's function, exactly as users paste it."""
    h = int(hashlib.sha1(trace_id.encode()).hexdigest(), 16)
    return PEERS[h % len(PEERS)]


def traces(n: int, seed: int = 7) -> list[str]:
    # Deterministic ids so the figures below do not vary run to run.
    rng = random.Random(seed)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return ["trc_" + "".join(rng.choice(alphabet) for _ in range(26)) for _ in range(n)]


def test_owner_of_matches_the_seed_formula() -> None:
    for trace_id in [*traces(2000), *(new_trace_id() for _ in range(200))]:
        assert owner_of(trace_id, PEERS) == seed_owner_of(trace_id)


def test_owner_of_uses_both_peers_and_many() -> None:
    owners = {owner_of(t, PEERS) for t in traces(200)}
    assert owners == set(PEERS)
    pool = [f"w{i}" for i in range(7)]
    assert {owner_of(t, pool) for t in traces(2000)} == set(pool)


def test_owner_of_an_empty_pool_is_an_error() -> None:
    with pytest.raises(ValueError):
        owner_of("trc_x", [])


def test_ring_is_deterministic_regardless_of_insertion_order() -> None:
    peers = [f"peer-{i}" for i in range(6)]
    shuffled = peers[:]
    random.Random(3).shuffle(shuffled)
    a = HashRing(peers)
    b = HashRing(shuffled)
    c = HashRing()
    for peer in reversed(peers):
        c.add(peer)
    for trace_id in traces(3000):
        assert a.owner_of(trace_id) == b.owner_of(trace_id) == c.owner_of(trace_id)


def test_ring_add_remove_and_membership() -> None:
    ring = HashRing(["a", "b"])
    assert len(ring) == 2 and "a" in ring and ring.peers == {"a", "b"}
    ring.add("a")  # no-op
    assert len(ring) == 2
    before = {t: ring.owner_of(t) for t in traces(500)}
    ring.add("c")
    ring.remove("c")
    assert {t: ring.owner_of(t) for t in traces(500)} == before
    ring.remove("zzz")  # no-op
    ring.remove("a")
    ring.remove("b")
    with pytest.raises(ValueError):
        ring.owner_of("trc_x")
    with pytest.raises(ValueError):
        HashRing(replicas=0)


def test_ring_spreads_load_over_every_peer() -> None:
    ring = HashRing([f"w{i}" for i in range(4)])
    counts: dict[str, int] = {}
    for trace_id in traces(10_000):
        owner = ring.owner_of(trace_id)
        counts[owner] = counts.get(owner, 0) + 1
    assert set(counts) == {"w0", "w1", "w2", "w3"}
    assert min(counts.values()) > 1500  # a fair share is 2,500


def test_adding_a_fifth_peer_moves_about_a_fifth_of_traces() -> None:
    ids = traces(10_000)
    four = [f"worker-{i}" for i in range(4)]
    five = [*four, "worker-4"]

    ring = HashRing(four)
    before = {t: ring.owner_of(t) for t in ids}
    ring.add("worker-4")
    moved_ring = [t for t in ids if ring.owner_of(t) != before[t]]
    share_ring = len(moved_ring) / len(ids)
    assert 0.12 <= share_ring <= 0.30, share_ring
    # Every moved trace went to the new peer: nothing reshuffles between old peers.
    assert all(ring.owner_of(t) == "worker-4" for t in moved_ring)

    moved_mod = sum(owner_of(t, four) != owner_of(t, five) for t in ids)
    assert moved_mod / len(ids) > 0.60, moved_mod / len(ids)
