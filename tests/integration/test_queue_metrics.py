import redis
from prometheus_client import CollectorRegistry, generate_latest

from serving.metrics import PRIORITY_SEPARATOR, QueueCollector

URL = "redis://127.0.0.1:6379/14"


def test_queue_lengths_are_read_from_redis_at_scrape_time_across_priority_lists() -> None:
    client = redis.Redis.from_url(URL)
    client.flushdb()
    try:
        client.lpush("ingest", "a", "b")
        client.lpush(f"ingest{PRIORITY_SEPARATOR}6", "c")
        registry = CollectorRegistry()
        registry.register(QueueCollector(URL, ("ingest", "light")))
        text = generate_latest(registry).decode()
        assert 'sillok_queue_messages{queue="ingest"} 3.0' in text
        assert 'sillok_queue_messages{queue="light"} 0.0' in text
    finally:
        client.flushdb()


def test_a_broker_that_does_not_answer_leaves_the_scrape_working() -> None:
    registry = CollectorRegistry()
    registry.register(QueueCollector("redis://127.0.0.1:1/0", ("ingest",)))
    assert "sillok_queue_messages" not in generate_latest(registry).decode()
