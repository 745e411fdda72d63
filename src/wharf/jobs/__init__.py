"""The workers that run the durable job queue's jobs (the queue itself: core/queue.py)."""
