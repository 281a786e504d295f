"""The peers benchmark: stalwart's throughput beside RQ's, Dramatiq's, Celery's and huey's (``__main__``)."""
