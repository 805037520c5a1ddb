"""The job queue: huey (https://huey.readthedocs.io), a small, well-kept task queue.

* No ``[server] queue``: ``SqliteHuey`` in ``.essay/server/queue.db`` and a consumer of
  threads inside ``es server`` -- nothing else to install or run.
* ``[server] queue = "redis://..."``: ``RedisHuey``; ``es server worker`` processes (on
  this machine or others that share the project directory) run the jobs.

A queued task carries only the job's id; the job itself (what, where, who) and its log are
in the store, so a worker needs nothing but the id. A job that is not its environment's
turn holds no worker thread: its task raises huey's ``RetryTask`` and comes back from the
queue's schedule a moment later; a job that ends hands the turn on at once by queueing the
task of the next job of its environment (the oldest waiting one).
"""
from __future__ import annotations

import os
import socket

WAIT = 0.5   # seconds before a job that was not its environment's turn is looked at again


def _start_ticks(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of process ``pid`` from /proc, or None
    where there is no /proc (not Linux) or no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def worker_id() -> str:
    """``host:pid:ticks``: the pid's start time (clock ticks since boot) tells this process
    from a later one that reuses its pid, whatever the wall clock did meanwhile."""
    me = _start_ticks(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{me[1]}" if me else "")


def alive(worker: str, since: float) -> bool | None:
    """Whether the worker ``host:pid[:ticks]`` that started a job at ``since`` still runs:
    True or False for a worker on this machine (its process exists, is no zombie, and is
    the same process: the same start ticks; for an id without ticks, from an older essay,
    started before the job); None for one on another machine.

    Ticks, not the wall clock: a paused and resumed VM (or a stepped clock) moves the boot
    time /proc/stat reports, so a start time computed from it can land after the job's."""
    host, _, rest = worker.partition(":")   # a host name holds no ":"
    pid, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: it exists
        pass
    stat = _start_ticks(int(pid))
    if stat is None:
        return True   # no /proc (not Linux): the pid exists, that is all we know
    state, start = stat
    if state == "Z":
        return False
    if ticks.isdigit():
        return start == int(ticks)
    try:
        with open("/proc/stat") as f:
            boot = next(float(x.split()[1]) for x in f if x.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return True
    return boot + start / os.sysconf("SC_CLK_TCK") <= since + 2   # btime: whole seconds


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
        from huey.exceptions import RetryTask

        from essay.server.jobs import execute

        if not execute(settings, store, job_id, worker_id(), run_job):
            raise RetryTask(delay=WAIT)   # not its turn: the thread is free meanwhile

    return huey, run_job


def consumer(huey, threads: int):
    return huey.create_consumer(workers=threads, worker_type="thread", periodic=False,
                                initial_delay=0.05, max_delay=0.5,
                                check_worker_health=False)
