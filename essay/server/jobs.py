"""Running a job: wait for its environment's turn, run it with a heartbeat, keep its log.

A job runs the same functions as ``es`` (:func:`essay.cli.run` with a command of
:data:`essay.commands.COMMANDS`), in a :class:`~essay.context.Context` for the project and
the job's environment whose reporter writes into the job's log, one timestamped line at a
time. The lbs record the job's actor ("alice via essay server (job 12)") as the lock holder
and in the history. A job whose worker stops beating is *lost*: its log is kept, the lock
it held is reported, and released if the lbs show this job as its holder.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback

from essay.errors import EssayError
from essay.output import Reporter
from essay.state import ACTOR


class LogStream:
    """A text stream (for :class:`Reporter`) that stores each line in the job's log, with
    every known secret masked."""

    def __init__(self, store, job_id: int, secrets=()):
        self.store, self.job_id = store, job_id
        self.secrets = [s for s in secrets if s]
        self.buf = ""
        self.last_outcome = ""
        self.lock = threading.Lock()

    def write(self, text: str):
        with self.lock:
            self.buf += text.replace("\r", "\n")
            *lines, self.buf = self.buf.split("\n")
        for line in lines:
            if line.strip():
                self.line(line)
        return len(text)

    def line(self, line: str):
        for s in self.secrets:
            line = line.replace(s, "***")
        if line.startswith("es: "):
            self.last_outcome = line[4:]
        self.store.log(self.job_id, line)

    def flush(self):
        pass

    def isatty(self):
        return False


def actor(job) -> str:
    return f"{job.who} via essay server (job {job.id})"


def context(settings, env: str, reporter):
    """A Context for the project at ``settings.root`` and environment ``env``."""
    from essay.context import Context

    kw = {"reporter": reporter, "cwd": settings.root}
    if env and "env" in {f.name for f in dataclasses.fields(Context)}:
        kw["env"] = env
    return Context(**kw)


def secrets_of(settings, cfg=None) -> list[str]:
    """What a job's log must never show: twine's password, the webhook secret and, with
    ``cfg``, the index's (in the index or upload URL, or the embedded index's saved one)."""
    import os
    from urllib.parse import unquote, urlsplit

    out = [os.environ.get("TWINE_PASSWORD", "")]
    try:
        s = settings.secret()
        out.append(s.decode() if s else "")
    except EssayError:
        pass
    if cfg is not None:
        from essay.pypi import saved_credentials

        for url in (cfg.index_url, cfg.upload_url):
            try:
                password = urlsplit(url or "").password
            except ValueError:
                password = None
            out += [password or "", unquote(password or "")]
        try:
            out.append(saved_credentials(cfg)[1] or "")
        except (OSError, ValueError):
            pass
    return sorted(set(out), key=len, reverse=True)   # the longest first: none half-masked


def execute(settings, store, job_id: int, worker: str):
    """Run job ``job_id`` (called by a queue worker)."""
    said = False
    while not store.claim(job_id, worker):
        job = store.job(job_id)
        if job is None or job.state != "queued":
            return
        if not said:
            store.log(job_id, f"waiting on {worker}: an earlier job of environment "
                              f"{job.env or 'default'} runs or waits")
            said = True
        store.beat(job_id, worker)
        time.sleep(0.2)   # another job of this environment runs, or an older one waits
    job = store.job(job_id)
    stop = threading.Event()

    def beat():
        while not stop.wait(1.0):
            store.beat(job_id)

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    stream = LogStream(store, job_id, secrets_of(settings))
    token = ACTOR.set(actor(job))
    state = "failed"
    try:
        stream.line(f"job {job.id} on {worker}: {job.summary}")
        ctx = context(settings, job.env, Reporter(stream=stream, out=stream))
        stream.secrets = [x for x in secrets_of(settings, ctx.cfg) if x]
        from essay.server.actions import run

        code = run(job, ctx, settings)
        state = "done" if code == 0 else "failed"
    except EssayError as e:
        stream.line(f"es: failed: {e}")
    except BaseException as e:   # a bug: its traceback goes into the job's log
        for line in traceback.format_exception(e):
            stream.write(line)
        if not isinstance(e, Exception):
            raise
    finally:
        ACTOR.reset(token)
        stop.set()
        stream.write("\n")
        store.finish(job_id, state, stream.last_outcome or state)


def report_lost(settings, store, job):
    """A lost job: say so in its log, report the lb lock, release it if it is the job's."""
    from essay import lock

    stream = LogStream(store, job.id, secrets_of(settings))
    stream.line(f"lost: worker {job.worker} stopped answering; the log above is what it "
                "wrote before")
    token = ACTOR.set(actor(job))
    try:
        ctx = context(settings, job.env, Reporter(stream=stream, out=stream))
        holders = lock.holders(ctx)
        for host, holder in holders.items():
            stream.line(f"{host}: lock " + (f"held by {holder[0]} since {holder[1]} "
                                           f"({holder[2]})" if holder else "free"))
        if any(h and h[0] == actor(job) for h in holders.values()):
            lock.cli_release(ctx)   # removes it only where this job (same actor) holds it
            stream.line("lost: the lock this job held is released")
        else:
            stream.line("lost: this job holds no lock: nothing released")
    except EssayError as e:
        stream.line(f"lost: the lock could not be read or released: {e}")
    finally:
        ACTOR.reset(token)
        stream.write("\n")


def sweep(settings, store, stop: threading.Event, interval: float = 1.0):
    """Mark jobs lost whose worker stopped beating (runs in the server, in a thread)."""
    while not stop.wait(interval):
        try:
            for job in store.stale(settings.stale_after):
                report_lost(settings, store, job)
        except Exception:  # noqa: BLE001 -- the sweeper must outlive a bad moment
            traceback.print_exc()
