"""Rate limits behave the same on Redis (shared by API processes) and in-process, and keep limiting
when Redis goes away."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from core.acl import Principal
from core.settings import LimitSettings, Settings
from serving.ratelimit import (
    AbuseLimits,
    Limit,
    MemoryLimiter,
    RateLimited,
    RateLimiter,
    RedisLimiter,
    make_limiter,
)

pytestmark = pytest.mark.integration
REDIS_URL = os.environ.get("SILLOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FAST = Limit(count=3, period_s=3.0, burst=3)  # one event drains every second (slack for a busy machine)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip("Redis is not reachable")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"sillok-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*"):
        redis_client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Callable[[], RateLimiter]:
    """Builds limiters of one backend; two built by one test share their buckets (Redis) or not."""
    if request.param == "memory":
        return MemoryLimiter
    client = request.getfixturevalue("redis_client")
    prefix = request.getfixturevalue("prefix")
    return lambda: RedisLimiter(client, prefix)


def test_burst_then_the_sustained_rate(make: Callable[[], RateLimiter]) -> None:
    limiter = make()
    assert [limiter.hit("a", FAST).remaining for _ in range(3)] == [2, 1, 0]
    denied = limiter.hit("a", FAST)
    assert not denied.allowed and 0 < denied.retry_after_s <= 1.01
    assert limiter.hit("b", FAST).allowed  # buckets are per key
    time.sleep(denied.retry_after_s + 0.02)
    assert limiter.hit("a", FAST).allowed
    assert not limiter.hit("a", FAST).allowed


def test_peek_counts_nothing_and_reset_forgets(make: Callable[[], RateLimiter]) -> None:
    limiter = make()
    for _ in range(10):
        assert limiter.peek("k", FAST).allowed
    for _ in range(3):
        assert limiter.hit("k", FAST).allowed
    assert not limiter.peek("k", FAST).allowed
    assert not limiter.hit("k", FAST).allowed  # a denied event is not counted either
    limiter.reset("k")
    assert limiter.hit("k", FAST).remaining == 2


def test_redis_buckets_are_shared_and_expire(redis_client: redis.Redis, prefix: str) -> None:
    first, second = RedisLimiter(redis_client, prefix), RedisLimiter(redis_client, prefix)
    slow = Limit(count=2, period_s=60, burst=2)
    assert first.hit("user", slow).allowed and second.hit("user", slow).allowed
    assert not first.hit("user", slow).allowed and not second.hit("user", slow).allowed
    ttl = redis_client.pttl(prefix + "user")
    assert 0 < ttl <= 60_000  # an idle bucket leaves nothing behind


def test_redis_down_falls_back_to_this_process() -> None:
    limiter = RedisLimiter.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    assert [limiter.hit("a", FAST).allowed for _ in range(4)] == [True, True, True, False]
    limiter.reset("a")
    assert limiter.peek("a", FAST).allowed


def test_memory_limiter_drops_empty_buckets() -> None:
    now = [0.0]
    limiter = MemoryLimiter(clock=lambda: now[0], max_keys=10)
    for i in range(10):
        limiter.hit(f"k{i}", FAST)
    now[0] += 1.0  # every bucket has drained
    limiter.hit("new", FAST)
    assert len(limiter._tat) == 1


def test_backend_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(make_limiter(Settings(data_dir=tmp_path)), MemoryLimiter)
    broker = Settings(data_dir=tmp_path, ingest={"broker_url": "redis://127.0.0.1:6379/1"})
    assert isinstance(make_limiter(broker), RedisLimiter)
    forced = Settings(
        data_dir=tmp_path, ingest={"broker_url": "redis://x"}, limits={"redis_url": "memory://"}
    )
    assert isinstance(make_limiter(forced), MemoryLimiter)
    assert isinstance(
        make_limiter(Settings(data_dir=tmp_path, limits={"redis_url": REDIS_URL})), RedisLimiter
    )


def test_request_limits_per_user_and_per_key(make: Callable[[], RateLimiter]) -> None:
    limits = AbuseLimits(make(), LimitSettings(user_per_minute=60, key_per_minute=600, burst=3))
    hana, minsu = Principal("hana"), Principal("minsu")
    for _ in range(3):
        limits.request(hana, "slk_one")
    with pytest.raises(RateLimited) as caught:
        limits.request(hana, "slk_two")  # the user's limit covers all of their keys
    assert caught.value.code == "rate_limited" and caught.value.status == 429
    assert caught.value.retry_after == 1  # ceil of about one second, never 0
    limits.request(minsu)  # other users are unaffected

    per_key = AbuseLimits(make(), LimitSettings(user_per_minute=0, key_per_minute=6, burst=2))
    per_key.request(hana, "slk_a")
    per_key.request(hana, "slk_a")
    with pytest.raises(RateLimited) as caught:
        per_key.request(hana, "slk_a")
    assert 9 <= caught.value.retry_after <= 10
    per_key.request(hana, "slk_b")
    for _ in range(50):
        per_key.request(hana)  # user limit 0: unlimited; no key: no key limit


def test_tallies_count_in_windows_and_are_shared(make: Callable[[], RateLimiter]) -> None:
    first, second = make(), make()
    assert first.tally("w", 60).count == 0  # reading counts nothing
    assert [first.tally("w", 60, add=True).count for _ in range(3)] == [1, 2, 3]
    seen = first.tally("w", 60)
    assert seen.count == 3 and 59 <= seen.resets_in_s <= 60
    first.reset("w")
    assert first.tally("w", 60).count == 0
    short = first.tally("s", 0.3, add=True)
    assert short.count == 1
    time.sleep(0.35)
    assert first.tally("s", 0.3).count == 0  # the window ended
    if isinstance(first, RedisLimiter):  # API processes share the counts
        second.tally("shared", 60, add=True)
        assert first.tally("shared", 60, add=True).count == 2


def test_redis_down_tallies_in_this_process() -> None:
    limiter = RedisLimiter.from_url("redis://127.0.0.1:1/0")
    assert [limiter.tally("t", 60, add=True).count for _ in range(3)] == [1, 2, 3]


def test_rejected_credentials_are_refused_per_address_only_once_over(
    make: Callable[[], RateLimiter],
) -> None:
    limits = AbuseLimits(make(), LimitSettings(login_failures_per_ip=3))
    for _ in range(3):
        limits.credential_rejected("10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        limits.credential_rejected("10.0.0.1")
    assert 890 <= caught.value.retry_after <= 900  # until the 15-minute window ends
    limits.credential_rejected("10.0.0.2")  # other addresses are unaffected
    limits.request(Principal("hana"), "slk_valid")  # and a valid credential is never refused by it


def test_sign_ins_are_refused_per_pair_and_slowed_per_user_and_address(
    make: Callable[[], RateLimiter],
) -> None:
    limits = AbuseLimits(
        make(), LimitSettings(login_failures_per_user=3, login_failures_per_ip=5, login_delay_max_s=2)
    )
    for _ in range(3):
        assert limits.sign_in_delay("10.0.0.1", "Hana") == 0
        limits.sign_in_failed("10.0.0.1", "Hana")
    with pytest.raises(RateLimited) as caught:
        limits.sign_in_delay("10.0.0.1", "hana")  # this username from this address: refused
    assert 890 <= caught.value.retry_after <= 900
    assert limits.sign_in_delay("10.0.0.2", "hana") == 0  # from elsewhere: still allowed, at once
    limits.sign_in_failed("10.0.0.2", "hana")  # a 4th failure for the username: attempts slow down
    assert limits.sign_in_delay("10.0.0.3", "hana") == 0.25
    limits.sign_in_failed("10.0.0.3", "hana")
    limits.sign_in_failed("10.0.0.4", "hana")
    assert limits.sign_in_delay("10.0.0.5", "hana") == 1.0  # doubling per failure
    for i in range(10):
        limits.sign_in_failed(f"10.0.1.{i}", "hana")
    assert limits.sign_in_delay("10.0.0.5", "hana") == 2.0  # capped
    assert limits.sign_in_delay("10.0.0.5", "minsu") == 0  # other users are not slowed

    limits.signed_in("10.0.0.1", "hana")  # a success forgets the pair only
    assert limits.sign_in_delay("10.0.0.1", "hana") == 2.0

    for i in range(6):  # one address failing for many names slows that address down
        limits.sign_in_failed("10.0.9.9", f"user{i}")
    assert limits.sign_in_delay("10.0.9.9", "someone") == 0.25
    assert limits.sign_in_delay("10.0.9.8", "someone") == 0
