"""Background work: services for the tasks, the producer side, the embedded worker and the
`celery -A serving.worker.celery_main worker` entrance (the app and tasks are in `ingest.tasks`)."""
