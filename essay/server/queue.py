"""The job queue: huey (https://huey.readthedocs.io), a small, well-kept task queue.

* No ``[server] queue``: ``SqliteHuey`` in ``.essay/server/queue.db`` and a consumer of
  threads inside ``es server`` -- nothing else to install or run.
* ``[server] queue = "redis://..."``: ``RedisHuey``; ``es server worker`` processes (on
  this machine or others that share the project directory) run the jobs.

A queued task carries only the job's id; the job itself (what, where, who) and its log are
in the store, so a worker needs nothing but the id.
"""
from __future__ import annotations

import os
import socket


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def make(settings, store, cfg_name: str):
    """(huey, task): the queue and its one task, ``task(job_id)``, which runs the job."""
    from huey import RedisHuey, SqliteHuey

    if settings.queue:
        huey = RedisHuey(f"essay-{cfg_name}", url=settings.queue)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(f"essay-{cfg_name}", filename=str(settings.data_dir / "queue.db"))

    @huey.task(name="essay.job")
    def run_job(job_id: int):
        from essay.server.jobs import execute

        execute(settings, store, job_id, worker_id())

    return huey, run_job


def consumer(huey, threads: int):
    return huey.create_consumer(workers=threads, worker_type="thread", periodic=False,
                                initial_delay=0.05, max_delay=0.5,
                                check_worker_health=False)
