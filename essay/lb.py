"""An essay command's dealings with the load balancers, across round trips.

:class:`LbSession` takes the lock on every lb host and reads their state in one round
trip (:meth:`begin`), and records the outcome in the history and releases the lock in
another (:meth:`end`). Commands that fit in one round trip (flip, rollback) build their
own lb script with :func:`essay.state.lb_script` instead. Without lb hosts a session is
a no-op: nothing is live, nothing is locked.
"""
from __future__ import annotations

import datetime as _dt

from essay.errors import EssayError
from essay.remote.script import Step
from essay.remote.shell import q
from essay.state import LOCKED, LbState, Operation, lb_script, report_step


class LockedError(EssayError):
    exit_code = 3


def raise_for(results: dict, what: str):
    """One EssayError naming every lb host that failed (lock holders named)."""
    bad = [r for r in results.values() if not r.ok]
    if not bad:
        return
    locked = [r for r in bad if r.value("locked")]
    if locked:
        raise LockedError("; ".join(f"{r.host}: {what} refused: locked by {r.value('locked')}. "
                                    "Wait, or "
                                    "`es lock break` if that run is gone" for r in locked))
    raise EssayError("; ".join(r.message() for r in bad))


class LbSession:
    def __init__(self, ctx, executor, command: str, message: str = ""):
        self.ctx, self.cfg, self.ex = ctx, ctx.cfg, executor
        self.op = Operation(command, message or "")
        self.lbs = self.cfg.hosts("lb")
        self.states: dict[str, LbState] = {}
        self.held = False

    def begin(self, read_only: bool = False) -> dict[str, LbState]:
        """Take the lock (kept for later round trips) and read the state, on every lb."""
        if not self.lbs:
            return {}
        script = lb_script(self.cfg, self.op, f"{self.op.command}: lock and read state",
                           [report_step()], keep_lock=True, lock=not read_only)
        ex = self.ex
        if ex.dry_run:  # reading changes nothing: do it for real even in a dry run
            from essay.remote.executor import Executor
            ex = Executor.from_config(self.cfg, self.ctx.reporter)
        try:
            results = ex.run({h: script for h in self.lbs})
        except BaseException:   # Ctrl-C while locking: the lock may be ours on some lbs
            if not read_only:
                self.held = True
                self.release()  # removes only a lock with our token
            raise
        took = [h for h, r in results.items() if r.ok]   # where the lock is now ours
        if not read_only:
            self.held = bool(took)
        try:
            raise_for(results, self.op.command)
        except EssayError:
            self.release(took)
            raise
        for r in results.values():
            if r.value("repaired"):
                self.ctx.reporter.warn(f"{r.host}: {r.value('repaired')}")
        self.states = {h: LbState.from_result(r) for h, r in results.items()}
        return self.states

    @property
    def live(self) -> str:
        """The live colour; an error if the lbs disagree."""
        lives = {s.live for s in self.states.values()}
        if len(lives) > 1:
            raise EssayError("the load balancers disagree on the live colour: " + ", ".join(
                f"{h}={s.live or 'none'}" for h, s in self.states.items()) +
                "; flip them to one colour with `es flip COLOR`")
        return lives.pop() if lives else ""

    def end(self, command: str, from_: str, to: str, outcome: str, detail: str,
            versions: dict | None = None, keep: bool = False, state: dict | None = None):
        """Record the outcome in the history (and versions, and any other ``state``
        key=value, in the state); unlock unless ``keep`` (a later round trip of the same
        command goes on under the lock)."""
        if not self.held:
            return
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        puts = " ".join([q(f"{k}={v}") for c, ver in (versions or {}).items()
                         for k, v in ((f"version_{c}", ver), (f"deployed_{c}", now))]
                        + [q(f"{k}={v}") for k, v in (state or {}).items()])
        lines = [f"es_put {puts}"] if puts else []
        lines.append(f"es_history {q(command)} {q(from_)} {q(to)} {q(outcome)} {q(detail)}")
        script = lb_script(self.cfg, self.op, f"{command}: record and unlock",
                           [Step("record", "\n".join(lines))], keep_lock=keep)
        results = self.ex.run({h: script for h in self.lbs})
        self.held = keep
        bad = [r for r in results.values() if not r.ok]
        for r in bad:
            self.ctx.reporter.warn(r.message(f"could not record the {command} or release "
                                             f"the lock: {r.reason}; see `es lock status`"))

    def release(self, hosts=None):
        """Release the lock without recording anything (a failed begin): on ``hosts``
        (default: every lb)."""
        hosts = self.lbs if hosts is None else hosts
        if self.held and hosts:
            script = lb_script(self.cfg, self.op, "unlock", [])
            self.ex.run({h: script for h in hosts})
        self.held = False


__all__ = ["LbSession", "LockedError", "raise_for", "LOCKED"]
