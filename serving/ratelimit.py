"""Rate limits per user and per API key, and failure counts for sign-ins, in Redis or in this process.

Request rates use GCRA (a token bucket stored as one timestamp per key): a `Limit` allows
`count` events per `period_s` on average, `burst` of them at once. Failures are counted in
fixed 15-minute windows (`tally`). Redis keeps the counts of every API process together and
takes the time from the Redis server, so replicas with skewed clocks agree; the in-process
backend serves the embedded default (one process). When Redis does not answer, the limits fall
back to this process's counts rather than to none.

Failures never lock anyone out: a valid credential is served whatever its address did, a
correct password signs in whoever else guessed wrong (after a capped delay), and only the pair
of one username and one address is refused outright after too many failures.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from core.acl import Principal
from core.errors import SillokError
from core.settings import LimitSettings, Settings

if TYPE_CHECKING:
    import redis

log = structlog.get_logger(__name__)
FAILURE_WINDOW_S = 15 * 60.0


@dataclass(frozen=True)
class Limit:
    """`count` events per `period_s` on average, at most `burst` of them at once."""

    count: int
    period_s: float
    burst: int

    @property
    def interval_s(self) -> float:
        """Time one event takes to drain from the bucket."""
        return self.period_s / self.count


@dataclass(frozen=True)
class Decision:
    """Whether an event may happen now; if not, when it may (in seconds from now)."""

    allowed: bool
    retry_after_s: float = 0.0
    remaining: int = 0


@dataclass(frozen=True)
class Tally:
    """Events counted in a key's current window, and when that window ends (seconds from now)."""

    count: int
    resets_in_s: float = 0.0


class RateLimiter(Protocol):
    """Buckets by key; `hit` consumes one event, `peek` only asks whether one would be allowed;
    `tally` counts events in fixed windows."""

    def hit(self, key: str, limit: Limit) -> Decision:
        """Count one event against `key` if the limit allows it."""
        ...

    def peek(self, key: str, limit: Limit) -> Decision:
        """Whether one more event would be allowed, counting nothing."""
        ...

    def tally(self, key: str, window_s: float, add: bool = False) -> Tally:
        """The events counted against `key` in its current window, after counting one if `add`."""
        ...

    def reset(self, key: str) -> None:
        """Forget every event counted against `key`."""
        ...


def _gcra(tat: float, now: float, limit: Limit) -> tuple[Decision, float]:
    """The decision and the bucket's new theoretical arrival time if the event is counted."""
    interval = limit.interval_s
    new_tat = max(tat, now) + interval
    allow_at = new_tat - limit.burst * interval
    if now < allow_at:
        return Decision(False, allow_at - now, 0), tat
    return Decision(True, 0.0, int((now - allow_at) / interval)), new_tat


class MemoryLimiter:
    """Buckets in this process (the embedded default, and the fallback when Redis is down)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._tat: dict[str, float] = {}
        self._windows: dict[str, tuple[int, float]] = {}  # key: (count, window end)
        self._lock = threading.Lock()

    def hit(self, key: str, limit: Limit) -> Decision:
        """Count one event against `key` if the limit allows it."""
        with self._lock:
            now = self._clock()
            decision, tat = _gcra(self._tat.get(key, now), now, limit)
            if decision.allowed:
                if len(self._tat) >= self._max_keys:
                    self._prune(now)
                self._tat[key] = tat
            return decision

    def peek(self, key: str, limit: Limit) -> Decision:
        """Whether one more event would be allowed, counting nothing."""
        with self._lock:
            now = self._clock()
            return _gcra(self._tat.get(key, now), now, limit)[0]

    def tally(self, key: str, window_s: float, add: bool = False) -> Tally:
        """The events counted against `key` in its current window, after counting one if `add`."""
        with self._lock:
            now = self._clock()
            count, ends = self._windows.get(key, (0, now + window_s))
            if ends <= now:
                count, ends = 0, now + window_s
            if add:
                if len(self._windows) >= self._max_keys:
                    self._prune(now)
                count += 1
                self._windows[key] = (count, ends)
            return Tally(count, ends - now if count else 0.0)

    def reset(self, key: str) -> None:
        """Forget every event counted against `key`."""
        with self._lock:
            self._tat.pop(key, None)
            self._windows.pop(key, None)

    def _prune(self, now: float) -> None:
        # A drained bucket or an ended window counts nothing: dropping it changes no decision.
        self._tat = {k: t for k, t in self._tat.items() if t > now}
        self._windows = {k: w for k, w in self._windows.items() if w[1] > now}


# KEYS[1] bucket; ARGV interval (ms), burst, consume (1) or peek (0).
# Returns {allowed, retry_after_ms, remaining}. Time comes from the Redis server.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, allow_at - now, 0}
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now)
end
return {1, 0, math.floor((now - allow_at) / interval)}
"""


# KEYS[1] window; ARGV window (ms), add (1) or only read (0). Returns {count, ms until it resets}.
_TALLY_LUA = """
local n
if ARGV[2] == '1' then
  n = redis.call('INCR', KEYS[1])
  if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
else
  n = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {n, ttl}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every API process; this process's buckets while Redis is down."""

    def __init__(self, client: redis.Redis, prefix: str = "sillok:rl:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_GCRA_LUA)
        self._tally = client.register_script(_TALLY_LUA)
        self._fallback = MemoryLimiter()
        self._degraded = False

    @classmethod
    def from_url(cls, url: str, prefix: str = "sillok:rl:") -> RedisLimiter:
        """A limiter on the Redis at `url`, with short timeouts (a limit must not stall requests)."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, prefix)

    def hit(self, key: str, limit: Limit) -> Decision:
        """Count one event against `key` if the limit allows it."""
        return self._run(key, limit, consume=True)

    def peek(self, key: str, limit: Limit) -> Decision:
        """Whether one more event would be allowed, counting nothing."""
        return self._run(key, limit, consume=False)

    def tally(self, key: str, window_s: float, add: bool = False) -> Tally:
        """The events counted against `key` in its current window, after counting one if `add`."""
        import redis

        try:
            count, ttl_ms = self._tally(
                keys=[self._prefix + key], args=[max(1, round(window_s * 1000)), 1 if add else 0]
            )
        except redis.RedisError as exc:
            self._fail(exc)
            return self._fallback.tally(key, window_s, add)
        self._recovered()
        return Tally(int(count), int(ttl_ms) / 1000)

    def reset(self, key: str) -> None:
        """Forget every event counted against `key`."""
        import redis

        self._fallback.reset(key)
        try:
            self._client.delete(self._prefix + key)
        except redis.RedisError as exc:
            self._fail(exc)

    def _run(self, key: str, limit: Limit, consume: bool) -> Decision:
        import redis

        interval_ms = max(1, round(limit.interval_s * 1000))
        try:
            allowed, retry_ms, remaining = self._script(
                keys=[self._prefix + key], args=[interval_ms, limit.burst, 1 if consume else 0]
            )
        except redis.RedisError as exc:
            self._fail(exc)
            local = self._fallback.hit if consume else self._fallback.peek
            return local(key, limit)
        self._recovered()
        return Decision(bool(allowed), int(retry_ms) / 1000, int(remaining))

    def _recovered(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("rate_limit_redis_back")

    def _fail(self, exc: Exception) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning("rate_limit_redis_unavailable", error=str(exc))

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


def make_limiter(settings: Settings) -> RateLimiter:
    """Redis when `limits.redis_url` (or else a Redis ingest broker) is set; in-process otherwise."""
    url = settings.limits.redis_url
    broker = settings.ingest.broker_url
    if url is None and broker and broker.startswith(("redis://", "rediss://")):
        url = broker
    if url is None or url.startswith("memory://"):
        return MemoryLimiter()
    return RedisLimiter.from_url(url)


class RateLimited(SillokError):
    """Too many requests or failed logins; retry after `retry_after_s` seconds."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> int:
        """Whole seconds for the `Retry-After` header (at least 1)."""
        return max(1, math.ceil(self.retry_after_s))


def key_fingerprint(credential: str) -> str:
    """A short, non-reversible name for an API key in limiter keys and logs."""
    return hashlib.sha256(credential.encode()).hexdigest()[:24]


class AbuseLimits:
    """The configured limits: requests per user and per key; failures per address, per username
    and per (username, address) pair."""

    def __init__(self, limiter: RateLimiter, settings: LimitSettings) -> None:
        self._limiter = limiter
        self._settings = settings
        burst = settings.burst
        self._user = Limit(settings.user_per_minute, 60.0, burst) if settings.user_per_minute else None
        self._key = Limit(settings.key_per_minute, 60.0, burst) if settings.key_per_minute else None

    def request(self, principal: Principal, api_key: str | None = None) -> None:
        """Count one request of `principal` (and of the API key it used); RateLimited when over."""
        if self._user is not None:
            self._enforce(self._limiter.hit(f"req:user:{principal.username}", self._user), "requests")
        if api_key is not None and self._key is not None:
            decision = self._limiter.hit(f"req:key:{key_fingerprint(api_key)}", self._key)
            self._enforce(decision, "requests with this API key")

    def credential_rejected(self, client_ip: str) -> None:
        """Count a rejected credential from this address; RateLimited once it has had too many
        (only rejected credentials are refused this way: valid ones never reach here)."""
        seen = self._limiter.tally(_ip(client_ip), FAILURE_WINDOW_S, add=True)
        if seen.count > self._settings.login_failures_per_ip:
            raise RateLimited(
                "too many rejected credentials from this address; retry later", seen.resets_in_s
            )

    def sign_in_delay(self, client_ip: str, username: str) -> float:
        """Seconds to wait before checking this sign-in's password (0 when nothing is suspicious);
        RateLimited when this username has failed too often from this very address.

        Failures for the username from every address, and from the address for every username,
        beyond their allowance slow each further attempt down: 0.25 s, doubling, up to the cap.
        A correct password still signs in once the delay has passed.
        """
        settings = self._settings
        pair = self._limiter.tally(_pair(client_ip, username), FAILURE_WINDOW_S)
        if pair.count >= settings.login_failures_per_user:
            raise RateLimited("too many failed sign-ins; retry later", pair.resets_in_s)
        per_user = self._limiter.tally(_user(username), FAILURE_WINDOW_S).count
        per_ip = self._limiter.tally(_ip(client_ip), FAILURE_WINDOW_S).count
        excess = max(per_user - settings.login_failures_per_user, per_ip - settings.login_failures_per_ip)
        if excess <= 0:
            return 0.0
        return float(min(settings.login_delay_max_s, _FIRST_DELAY_S * 2 ** min(excess - 1, 16)))

    def sign_in_failed(self, client_ip: str, username: str) -> None:
        """Count a failed sign-in against the pair, the username and the address."""
        for key in (_pair(client_ip, username), _user(username), _ip(client_ip)):
            self._limiter.tally(key, FAILURE_WINDOW_S, add=True)

    def signed_in(self, client_ip: str, username: str) -> None:
        """Forget the pair's failures after a successful sign-in (the username's and the
        address's stay counted: someone else may still be guessing)."""
        self._limiter.reset(_pair(client_ip, username))

    @staticmethod
    def _enforce(decision: Decision, what: str) -> None:
        if not decision.allowed:
            raise RateLimited(f"too many {what}; retry later", decision.retry_after_s)


_FIRST_DELAY_S = 0.25


def _ip(client_ip: str) -> str:
    return f"fail:ip:{client_ip}"


def _user(username: str) -> str:
    return f"fail:user:{username.lower()}"


def _pair(client_ip: str, username: str) -> str:
    return f"fail:pair:{username.lower()}:{client_ip}"
