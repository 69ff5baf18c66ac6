"""The Celery executor: API nodes publish execution ids to a broker, taskgate workers claim
them in PostgreSQL and run them (docs/deploy.md). Imported only when executor.kind is celery."""
