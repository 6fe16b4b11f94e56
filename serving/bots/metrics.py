"""The bots' Prometheus series: events received, outcomes and answer latency, per platform."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "sillok_bot_events_total",
    "Events received by the bots, by kind (message, mention, command, action, retry, bad_signature…)",
    ["platform", "kind"],
)
OUTCOMES = Counter(
    "sillok_bot_outcomes_total",
    "What the bots replied: answer, refusal, unknown_user, rate_limited, unsupported, share_refused, failed",
    ["platform", "outcome"],
)
LATENCY = Histogram(
    "sillok_bot_answer_seconds",
    "Time from an event's claim to its answer being ready",
    ["platform"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
