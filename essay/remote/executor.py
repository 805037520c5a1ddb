"""The one executor: every remote action in essay runs through :meth:`Executor.run`.

It owns what no builder should think about:

* one round trip per script: the rendered script goes on stdin of one ``bash -s`` exec
  channel of the host's Fabric ``Connection`` (written to the channel directly: invoke's
  runner feeds stdin a byte at a time); ``local`` runs the same text in a local bash;
* hosts in parallel, bounded by ``parallel``; a connection per host, reused;
* host keys verified against known_hosts (paramiko ``RejectPolicy``), unless the user
  explicitly accepts new keys (``[ssh] accept_new_host_keys``), which then saves them;
* ``dry_run``: print each host's script, run nothing;
* per-host progress from the step markers as they stream in, timing, and one-line
  errors that name the host and the failing step;
* a counter of channels opened per host (:attr:`Executor.channels`), asserted by tests.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

from essay.output import Reporter
from essay.output.fleet import Event
from essay.remote import connect
from essay.remote import hosts as hostmod
from essay.remote import openssh
from essay.remote import summary
from essay.remote.errors import connect_error, step_error
from essay.remote.progress import Progress, pump
from essay.remote.script import HostResult, Script, parse


class Executor:
    def __init__(self, reporter: Reporter | None = None, *, dry_run: bool = False,
                 parallel: int = 16, accept_new_host_keys: bool = False,
                 connect_timeout: float = 10.0, openssh_hosts=(), control_persist: int = 300):
        self.reporter = reporter or Reporter()
        # hosts reached with the OpenSSH client (openssh.py), a kept connection each; a
        # set of hosts, or True for all; the others through paramiko
        self.openssh_hosts = openssh_hosts
        self.control_persist = control_persist
        self.dry_run = dry_run
        self.parallel = max(1, parallel)
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout = connect_timeout
        self.channels: Counter = Counter()
        self._connections: dict = {}
        self._ssh_config = None   # parsed once for every connection (connect.py)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg, reporter=None, dry_run=False, parallel=None) -> "Executor":
        return cls(reporter, dry_run=dry_run, parallel=parallel or cfg.parallel,
                   accept_new_host_keys=cfg.accept_new_host_keys,
                   connect_timeout=cfg.connect_timeout, openssh_hosts=openssh.hosts_for(cfg),
                   control_persist=cfg.control_persist)

    def uses_openssh(self, host: str) -> bool:
        return self.openssh_hosts is True or host in self.openssh_hosts

    def connect_soon(self, hosts) -> None:
        """Start the sessions of ``hosts`` reached with OpenSSH now, in the background: what
        the command still imports and builds overlaps the handshakes (a cold
        ``es rollback``, docs/performance.md); the host's next script runs in it."""
        if self.dry_run:
            return
        openssh.start_for(hosts, self.openssh_hosts, **self._session())

    # -- running ---------------------------------------------------------------------

    def run(self, scripts: Mapping[str, Script]) -> dict[str, HostResult]:
        """Run each host's script (all in parallel, bounded); results in the given order."""
        if self.dry_run:
            return {h: self._dry(h, s) for h, s in scripts.items()}
        self.reporter.check()
        shown = any(s.progress for s in scripts.values())
        if shown:
            self.reporter.start_run({h: tuple(st.name for st in s.steps)
                                     for h, s in scripts.items()}, _run_title(scripts))
        try:
            if len(scripts) == 1:
                (h, s), = scripts.items()
                return {h: self.run_one(h, s)}
            return self._run_pool(scripts)
        finally:
            if shown:
                self.reporter.end_run()

    def _run_pool(self, scripts: Mapping[str, Script]) -> dict[str, HostResult]:
        workers = min(self.parallel, len(scripts))
        connect.raise_fd_limit(len(self._connections) + len(scripts))
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = {h: pool.submit(self.run_one, h, s) for h, s in scripts.items()}
            return {h: f.result() for h, f in futures.items()}
        except KeyboardInterrupt:
            # Ctrl-C: drop every connection so the workers stop now, not at the end
            pool.shutdown(wait=False, cancel_futures=True)
            self.close()
            raise
        finally:
            pool.shutdown(wait=False)

    def run_one(self, host: str, script: Script) -> HostResult:
        start = time.monotonic()
        sink = Progress(host, script, self.reporter)
        text = script.render()
        try:
            with self._lock:
                self.channels[host] += 1
            if hostmod.is_local(host):
                output, exited = _run_local(text, sink)
            elif self.uses_openssh(host):
                output, exited = openssh.run(self._ssh_argv(host, openssh.SCRIPT), text,
                                             lambda read: pump(read, sink), host)
            else:
                output, exited = _run_channel(self._connection(host), text, sink)
            res = parse(script, output, host)
            res.ok = exited == 0
            if not res.ok:
                res.error = step_error(res, exited)
        except Exception as e:  # noqa: BLE001 -- every failure becomes a per-host message
            message = connect_error(host, e)
            if message is None:
                raise
            res = parse(script, "", host)
            res.error = message
            self._forget(host)
        if script.progress:
            self.reporter.event(Event("host_end", host, ok=res.ok, reason=summary.reason(res),
                                      at=time.monotonic()))
        for n, step in enumerate(res.steps, 1):
            if n in sink.started:
                step.seconds = sink.ended.get(n, time.monotonic()) - sink.started[n]
        res.seconds = time.monotonic() - start
        return res

    def interactive(self, host: str, text: str, pty: bool = False) -> int:
        """Run ``text`` (bash, built by a pure function) on ``host`` attached to this
        terminal -- stdin, stdout and stderr; a pty when ``pty`` -- and return its exit
        status. One exec channel (``es run``)."""
        self.reporter.check()
        with self._lock:
            self.channels[host] += 1
        argv = ["bash", "-c", text]
        if hostmod.is_local(host):
            return subprocess.run(argv, cwd=os.path.expanduser("~")).returncode
        from essay.remote.shell import cmd

        if self.uses_openssh(host):
            code = subprocess.run(self._ssh_argv(host, cmd(*argv), tty=pty)).returncode
            if code == 255:
                from essay.errors import EssayError

                raise EssayError(f"{host}: ssh failed (exit 255): see its message above")
            return code

        import sys

        try:   # a tty that is not ours (no controlling terminal): invoke cannot read it
            usable = not sys.stdin.isatty() or os.tcgetpgrp(0) == os.getpgrp()
        except (OSError, ValueError):
            usable = False
        try:
            result = self._connection(host).run(cmd(*argv), pty=pty, warn=True,
                                                echo_stdin=False,
                                                in_stream=None if usable else False)
        except Exception as e:  # noqa: BLE001 -- a connection failure is a message
            message = connect_error(host, e)
            if message is None:
                raise
            from essay.errors import EssayError

            raise EssayError(message) from None
        return result.exited

    def _dry(self, host: str, script: Script) -> HostResult:
        where = "locally" if hostmod.is_local(host) else "over ssh as `bash -s`"
        self.reporter.print(f"### {host}: would run {where}:\n{script.render()}")
        return HostResult(host=host, ok=True, dry_run=True)

    # -- connections -----------------------------------------------------------------

    def _session(self) -> dict:
        return {"connect_timeout": self.connect_timeout,
                "accept_new": self.accept_new_host_keys, "persist": self.control_persist}

    def _ssh_argv(self, host: str, command: str, tty: bool = False) -> list[str]:
        return openssh.session_argv(host, command, tty=tty, **self._session())

    def _connection(self, host: str):
        with self._lock:
            conn = self._connections.get(host)
            if self._ssh_config is None:
                self._ssh_config = connect.shared_ssh_config()
        if conn is not None:
            return conn
        conn = connect.open_connection(host, self._ssh_config, self.connect_timeout,
                                       self.accept_new_host_keys, self._lock)
        with self._lock:
            self._connections[host] = conn
        return conn

    def _forget(self, host):
        with self._lock:
            conn = self._connections.pop(host, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self):
        for host in list(self._connections):
            self._forget(host)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _run_channel(conn, text: str, sink) -> tuple[str, int]:
    """One exec channel: ``bash -s``, the script on its stdin, stderr merged."""
    chan = conn.client.get_transport().open_session()
    try:
        chan.set_combine_stderr(True)
        chan.exec_command("bash -s")
        chan.sendall(text.encode())
        chan.shutdown_write()
        output = pump(chan.recv, sink)
        return output, chan.recv_exit_status()
    finally:
        chan.close()


def _run_local(text: str, sink) -> tuple[str, int]:
    """``local``: the same script, same shell, no SSH."""
    proc = subprocess.Popen(["bash", "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=os.path.expanduser("~"))
    proc.stdin.write(text.encode())
    proc.stdin.close()
    output = pump(lambda n: os.read(proc.stdout.fileno(), n), sink)
    proc.stdout.close()
    return output, proc.wait()


def _run_title(scripts: Mapping[str, Script]) -> str:
    """What the run does, without the host: ``deploy demo 1.0 into a``."""
    host, script = next(iter(scripts.items()))
    return script.title.removesuffix(f" on {host}")
