"""Running a job: wait for its environment's turn, run it with a heartbeat, keep its log.

A job runs the same functions as ``es`` (:func:`essay.cli.run` with a command of
:data:`essay.commands.COMMANDS`), in a :class:`~essay.context.Context` for the project and
the job's environment whose reporter writes into the job's log, one timestamped line at a
time. The lbs record the job's actor ("alice via essay server (job 12)") as the lock holder
and in the history. A job whose worker stops beating is *lost*: its log is kept, the lock
it held is reported, and released if the lbs show this job as its holder.

A job waits for its environment's turn without holding a worker thread (the queue looks
at it again a moment later: :mod:`essay.server.queue`). A worker is judged gone only when
that can be shown (its process is gone, on this machine), or, on another machine, after a
long silence; a worker whose job was marked lost runs nothing more on the hosts for it.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback

from essay.errors import EssayError
from essay.output import Reporter
from essay.state import ACTOR


#: secrets shorter than this are masked only as whole words (:class:`LogStream`)
SHORT = 8


class LogStream:
    """A text stream (for :class:`Reporter`) that stores each line in the job's log, with
    every known secret masked."""

    def __init__(self, store, job_id: int, secrets=()):
        self.store, self.job_id = store, job_id
        self.secrets = secrets
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

    @property
    def secrets(self) -> list[str]:
        return self._secrets

    @secrets.setter
    def secrets(self, values):
        """The longest first (none half-masked). One shorter than SHORT characters is
        masked only where it stands alone (not inside a longer word: a 3-letter password
        would otherwise turn every such run of letters in the log into ``***``, and show
        where it occurs)."""
        import re

        values = sorted({v for v in values if v}, key=len, reverse=True)
        self._secrets = values
        self._masks = [re.compile(re.escape(v) if len(v) >= SHORT else
                                  rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])")
                       for v in values]

    def line(self, line: str):
        for mask in self._masks:
            line = mask.sub("***", line)
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
        from essay.pypi.credentials import saved_credentials

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


class JobReporter(Reporter):
    """A job's reporter: before every remote action (:meth:`Reporter.check`, called by the
    executor) it makes sure the job is still its worker's, so a job marked lost runs
    nothing more on the hosts."""

    def __init__(self, stream, store, job_id: int, worker: str):
        super().__init__(stream=stream, out=stream)
        self.store, self.job_id, self.worker = store, job_id, worker

    def check(self):
        if not self.store.beat(self.job_id, self.worker):
            raise EssayError(f"job {self.job_id} is no longer {self.worker}'s (it was marked "
                             "lost): nothing more is run on the hosts")


def execute(settings, store, job_id: int, worker: str, enqueue) -> bool:
    """Run job ``job_id`` if it is its environment's turn (called by a queue worker); then
    ``enqueue`` the next job of its environment. False if it is not its turn: the caller
    tries again later, and no worker thread waits meanwhile."""
    if not store.claim(job_id, worker):
        job = store.job(job_id)
        if job is None or job.state != "queued":
            return True   # ran or ended already (a second task for it)
        if job.heartbeat is None:   # the first look at it
            store.log(job_id, f"waiting for its turn: an earlier job of environment "
                              f"{job.env or 'default'} runs or waits; it holds no worker")
        store.beat(job_id)          # the queue looked at it (seen on its page: it waits)
        return False
    job = store.job(job_id)
    stop = threading.Event()
    stream = LogStream(store, job_id, secrets_of(settings))

    def beat():
        while not stop.wait(1.0):
            try:
                if not store.beat(job_id, worker):
                    stream.line(f"job {job_id} is no longer {worker}'s (it was marked lost): "
                                "its remote work stops")
                    return
            except Exception:  # noqa: BLE001 -- a busy database: beat again next second
                traceback.print_exc()

    threading.Thread(target=beat, daemon=True).start()
    token = ACTOR.set(actor(job))
    state = "failed"
    try:
        stream.line(f"job {job.id} on {worker}: {job.summary}")
        ctx = context(settings, job.env, JobReporter(stream, store, job_id, worker))
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
        from essay.remote.openssh import discard_early

        discard_early()   # a pipeline's flip that failed before reaching the lbs
        ACTOR.reset(token)
        stop.set()
        stream.write("\n")
        store.finish(job_id, state, stream.last_outcome or state)
        hand_on(store, job.env, enqueue)
    return True


def hand_on(store, env: str, enqueue):
    """Queue the next job of ``env`` now (its own task would find its turn a moment later)."""
    nxt = store.next_queued(env)
    if nxt is not None:
        enqueue(nxt)


def report_lost(settings, store, job, why: str):
    """A lost job: say so in its log, report the lb lock, release it if it is the job's."""
    from essay import lock

    stream = LogStream(store, job.id, secrets_of(settings))
    stream.line(f"lost: {why}; the log above is what it wrote before")
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


REMOTE = 4   # a worker on another machine is lost after REMOTE x stale_after silent


def why_lost(settings, job, now: float) -> tuple[str | None, str]:
    """(why a silent job is lost or None while its worker may still run it, what to say
    meanwhile). A worker on this machine is lost only when its process is gone; one on
    another machine after ``REMOTE`` x ``stale_after`` seconds without a beat, and it
    stops the job itself when its next beat finds the job no longer its own."""
    from essay.server.queue import alive

    silent = now - job.heartbeat
    live = alive(job.worker, job.started)
    if live is False:
        return f"its worker {job.worker} stopped answering: its process is gone", ""
    if live:
        return None, (f"worker {job.worker} has not beaten for {silent:.0f} s, but its "
                      "process lives (busy or paused): the job stays running")
    if silent > REMOTE * settings.stale_after:
        return (f"its worker {job.worker} (another machine) stopped answering "
                f"{silent:.0f} s ago"), ""
    return None, (f"worker {job.worker} (another machine) has not beaten for {silent:.0f} "
                  f"s: lost if it stays silent for {REMOTE * settings.stale_after:.0f} s")


def sweep(settings, store, stop: threading.Event, enqueue, interval: float = 1.0):
    """Mark jobs lost whose worker is gone (runs in the server, in a thread); hand their
    environment's turn on."""
    told = set()
    while not stop.wait(interval):
        try:
            for job in store.silent(settings.stale_after):
                why, note = why_lost(settings, job, time.time())
                if why is None:
                    if job.id not in told:
                        store.log(job.id, note)
                        told.add(job.id)
                elif store.lose(job, why):
                    report_lost(settings, store, job, why)
                    hand_on(store, job.env, enqueue)
        except Exception:  # noqa: BLE001 -- the sweeper must outlive a bad moment
            traceback.print_exc()
