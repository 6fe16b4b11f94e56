"""Background work: the Celery app, its tasks, the producer side and the embedded worker."""
