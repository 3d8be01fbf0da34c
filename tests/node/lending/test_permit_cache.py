"""The permit check on fetch: a cached isValid answer never outlives a revocation by more than one
block, and a permit ends at its expiry without any transaction or new block."""

from __future__ import annotations

from anchor.eip712 import Permit
from node.lending.permits import PermitCache
from tests.helpers.lending_fakes import FakePermits

NOW = 1_800_000_000


def granted(chain: FakePermits, *, not_before: int = NOW - 10, expires_at: int = NOW + 3600) -> bytes:
    permit = Permit(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, not_before, expires_at, b"\x04" * 32)
    chain.grant_many([(permit, b"sig")])
    return chain.permit_id(permit)


def test_cached_answer_is_reused_only_at_the_same_block() -> None:
    chain = FakePermits()
    pid = granted(chain)
    cache = PermitCache(chain, clock=lambda: NOW)
    for _ in range(5):
        assert cache.check(pid, NOW - 10, NOW + 3600).allowed
    assert chain.calls["is_valid"] == 1  # one chain answer for five fetches at one head
    assert chain.calls["block_number"] == 5  # but the head is asked on every fetch
    chain._mine()  # any new block invalidates the cache
    assert cache.check(pid, NOW - 10, NOW + 3600).allowed
    assert chain.calls["is_valid"] == 2


def test_revocation_is_seen_at_the_first_fetch_after_its_block() -> None:
    chain = FakePermits()
    pid = granted(chain)
    cache = PermitCache(chain, clock=lambda: NOW)
    first = cache.check(pid, NOW - 10, NOW + 3600)
    assert first.allowed and not first.cached
    assert cache.check(pid, NOW - 10, NOW + 3600).cached
    chain.revoke(pid, b"sig")  # mined in the next block
    after = cache.check(pid, NOW - 10, NOW + 3600)
    assert not after.allowed and after.reason == "revoked_or_invalid" and after.block == first.block + 1


def test_expiry_ends_access_without_any_action() -> None:
    chain = FakePermits()
    pid = granted(chain, expires_at=NOW + 60)
    clock = [float(NOW)]
    cache = PermitCache(chain, clock=lambda: clock[0])
    assert cache.check(pid, NOW - 10, NOW + 60).allowed
    block_before = chain.block
    clock[0] = NOW + 60  # no transaction, no new block: the head is the block the answer was cached at
    check = cache.check(pid, NOW - 10, NOW + 60)
    assert not check.allowed and check.reason == "expired"
    assert chain.block == block_before


def test_not_yet_valid_and_unknown_permits_are_refused() -> None:
    chain = FakePermits()
    pid = granted(chain, not_before=NOW + 100)
    cache = PermitCache(chain, clock=lambda: NOW)
    assert cache.check(pid, NOW + 100, NOW + 3600).reason == "not_yet_valid"
    assert not cache.check(b"\x09" * 32, NOW - 1, NOW + 10).allowed


def test_chain_outage_fails_closed() -> None:
    chain = FakePermits()
    pid = granted(chain)
    cache = PermitCache(chain, clock=lambda: NOW)
    assert cache.check(pid, NOW - 10, NOW + 3600).allowed
    chain.down = True
    check = cache.check(pid, NOW - 10, NOW + 3600)
    assert not check.allowed and check.reason == "chain_unavailable"


def test_cache_is_bounded() -> None:
    chain = FakePermits()
    cache = PermitCache(chain, clock=lambda: NOW, max_entries=3)
    pids = [granted(chain, expires_at=NOW + 100 + i) for i in range(5)]
    for i, pid in enumerate(pids):
        cache.check(pid, NOW - 10, NOW + 100 + i)
    assert len(cache._answers) == 3
