"""OpenSSH as a transport: ``ssh HOST 'bash -s'``, the script on stdin, the connection kept.

The executor's other transport is paramiko (Fabric). This one runs the system's ``ssh``
client, which reads the same ``~/.ssh/config`` and known_hosts, and keeps each host's
connection open for ``[ssh] control_persist`` seconds after the command (OpenSSH's
``ControlMaster``/``ControlPersist``, as Ansible does): the next command within that time
opens a session on it instead of a new connection. That is what makes ``es rollback``
right after a flip one short round trip (docs/performance.md), and why the lbs use it by
default (``[ssh] client = "auto"``).

The command line (:func:`argv`) and the messages (:func:`error_message`) are built by pure
functions; :func:`run`, :func:`hostnames` and :func:`control_for` touch the machine.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import threading

from essay.remote import hosts as hostmod

#: a kept connection that stops answering is given up after about connect_timeout
ALIVE_COUNT = 3


class Failed(Exception):
    """OpenSSH could not run the command (exit 255): the message names why."""


def available() -> bool:
    return shutil.which("ssh") is not None


def hosts_for(cfg):
    """The hosts ``cfg``'s ``[ssh] client`` reaches with OpenSSH: True (all), a set, or ()."""
    if cfg.ssh_client == "openssh":
        if not available():
            from essay.config.reader import ConfigError

            raise ConfigError(f'{cfg.path}: [ssh] client is "openssh", but there is no `ssh` '
                              'on PATH; expected an OpenSSH client (7.6 or later), or '
                              'client = "auto"')
        return True
    if cfg.ssh_client == "auto" and available():
        return frozenset(cfg.hosts("lb"))   # latency-bound round trips (flip, rollback)
    return ()


def config_args() -> list[str]:
    """OpenSSH reads ``~/.ssh/config`` from the passwd entry, paramiko from ``$HOME``: when
    they differ, the one essay reads (``$HOME``'s) is named with ``-F``."""
    home = os.path.expanduser("~")
    try:
        own = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        own = None
    if own and os.path.realpath(own) == os.path.realpath(home):
        return []
    path = os.path.join(home, ".ssh", "config")
    return ["-F", path if os.path.exists(path) else "/dev/null"]


def control_dir() -> str:
    """A private directory for the kept connections' sockets (0700, ours). A socket path
    must stay under ~100 bytes: ``$XDG_RUNTIME_DIR``, else ``/tmp``."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return os.path.join(base, f"essay-ssh-{os.getuid()}")


def _private_dir(path: str) -> bool:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def argv(host: str, command: str, *, connect_timeout: float, accept_new: bool,
         persist: int, control: str | None, tty: bool = False) -> list[str]:
    """The ``ssh`` command line that runs ``command`` (one shell word) on ``host``
    (``[user@]name[:port]``). ``control``: the sockets' directory, None for no kept
    connection."""
    user, name, port = hostmod.split(host)
    timeout = max(1, round(connect_timeout))
    out = ["ssh", *config_args(), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout}",
           "-o", f"StrictHostKeyChecking={'accept-new' if accept_new else 'yes'}",
           "-o", "LogLevel=ERROR",
           "-o", f"ServerAliveInterval={max(1, round(connect_timeout / ALIVE_COUNT))}",
           "-o", f"ServerAliveCountMax={ALIVE_COUNT}"]
    if control and persist > 0:
        out += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}/%C",
                "-o", f"ControlPersist={int(persist)}"]
    else:
        out += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    if port:
        out += ["-p", str(port)]
    if user:
        out += ["-l", user]
    return out + ["-t" if tty else "-T", "--", name, command]


#: the remote command of a session that runs a script (on stdin; stderr merged)
SCRIPT = "bash -s 2>&1"


def settings(cfg) -> dict:
    """``cfg``'s settings for OpenSSH sessions: :func:`session_argv`'s keywords."""
    return {"connect_timeout": cfg.connect_timeout, "accept_new": cfg.accept_new_host_keys,
            "persist": cfg.control_persist}


def session_argv(host: str, command: str, *, connect_timeout: float, accept_new: bool,
                 persist: int, tty: bool = False) -> list[str]:
    """:func:`argv` on the kept connection (if ``persist``) in :func:`control_for`'s place."""
    return argv(host, command, connect_timeout=connect_timeout, accept_new=accept_new,
                persist=persist, control=control_for(host) if persist else None, tty=tty)


def start_for(hosts, chosen, **session) -> None:
    """:func:`start_soon` the script sessions of those of ``hosts`` reached with OpenSSH
    (``chosen``: :func:`hosts_for`'s answer) that are not this machine. Needs no executor:
    a command calls it before importing one (``Context.connect_soon``)."""
    start_soon({h: session_argv(h, SCRIPT, **session) for h in hosts
                if (chosen is True or h in chosen) and not hostmod.is_local(h)})


_PATTERNS = [
    (re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED"),
     lambda m, line: "the host key CHANGED; if that is expected, remove the old key from "
                     "known_hosts"),
    (re.compile(r"Host key verification failed|No \S+ host key is known"),
     lambda m, line: "its host key is not in known_hosts; verify it, then add it (ssh-keyscan "
                     "HOST >> ~/.ssh/known_hosts) or set [ssh] accept_new_host_keys = true in "
                     "essay.toml"),
    (re.compile(r"Permission denied \(([^)]*)\)"),
     lambda m, line: f"SSH authentication failed ({m.group(1)}); check the user and key for "
                     "this host"),
    (re.compile(r"[Tt]imed out|Timeout, server .* not responding"),
     lambda m, line: "timed out connecting; is the host up and the port right?"),
    (re.compile(r"(Connection refused|No route to host|Network is unreachable|"
                r"Could not resolve hostname.*|Name or service not known)"),
     lambda m, line: f"cannot connect: {m.group(1)}"),
]


def error_message(host: str, stderr: str) -> str:
    """``ssh``'s diagnostics (exit 255) as essay's one line for a connection failure: the
    same words the paramiko transport uses."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = "\n".join(lines)
    for pattern, say in _PATTERNS:
        m = pattern.search(text)
        if m:
            return f"{host}: {say(m, text)}"
    last = lines[-1] if lines else "the connection closed (exit 255)"
    return f"{host}: SSH error: {last}"


def run(args: list[str], text: str, pump, host: str | None = None) -> tuple[str, int]:
    """Run ``args`` (from :func:`argv`), ``text`` on its stdin; ``pump(read)`` reads the
    remote output (stdout, where the remote command merges stderr). The session
    :func:`start_soon` started for ``host`` with the same ``args`` is used if there is
    one. Raises :class:`Failed` with ssh's own diagnostics on exit 255."""
    with _early_lock:
        early = _early.pop(host, None) if host else None
    if early is not None and early[0] != args:   # not this command's: it ends, empty
        early[1].stdin.close()
        early = None
    proc = early[1] if early is not None else _spawn(args)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        proc.stdin.write(text.encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    output = pump(lambda n: os.read(proc.stdout.fileno(), n))
    proc.stdout.close()
    code = proc.wait()
    reader.join()
    proc.stderr.close()
    if code == 255:
        raise Failed(b"".join(errors).decode("utf-8", "replace"))
    return output, code


def _spawn(args):
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


_early: dict = {}   # host -> (args, Popen): a session started before its script is built
_early_lock = threading.Lock()


def start_soon(args_by_host: dict) -> None:
    """Start these hosts' sessions now (``args``: from :func:`argv`), their scripts to be
    written later by :func:`run`: the connection -- a new one, or a session on the kept
    one -- is made while the command still imports and builds what it will send. A
    session whose script never comes (the command failed before) is ended by
    :func:`discard_early` when the command ends."""
    with _early_lock:
        for host, args in args_by_host.items():
            if host not in _early:
                _early[host] = (args, _spawn(args))


def discard_early() -> None:
    """End the sessions :func:`start_soon` started that no script used (the command failed
    before it reached those hosts): called when a command ends, so a long-lived process
    (``es server``) keeps none open. Nothing was written to them: they run nothing."""
    with _early_lock:
        left = [proc for _, proc in _early.values()]
        _early.clear()
    for proc in left:
        proc.kill()
        proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


_names: dict = {}   # name -> Future of its HostName
_names_lock = threading.Lock()
_pool = None


def resolve_soon(names) -> None:
    """Start resolving ``names`` (``ssh -G``, in parallel) without waiting: a command starts
    this first and reads the answers (:func:`hostnames`) when it renders."""
    global _pool
    with _names_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ssh-G")
        for n in names:
            if n not in _names:
                _names[n] = _pool.submit(_hostname, n)


def hostnames(names: list[str]) -> dict[str, str]:
    """Each ssh name's ``HostName`` as OpenSSH resolves it (``ssh -G``); cached for the
    process."""
    resolve_soon(names)
    return {n: _names[n].result() for n in names}


def _hostname(name: str) -> str:
    try:
        out = subprocess.run(["ssh", *config_args(), "-G", "--", name], capture_output=True,
                             text=True, timeout=10, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return name
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == "hostname" and value:
            return value
    return name


def control_for(host: str) -> str | None:
    """The directory for ``host``'s kept connection, or None if it cannot be private (then
    the connection is not kept)."""
    path = control_dir()
    if len(path) + 45 > 100 or not _private_dir(path):   # %C: 40 hex, ssh adds a suffix
        return None
    return path


__all__ = ["SCRIPT", "Failed", "argv", "available", "control_for", "discard_early",
           "error_message", "hostnames", "resolve_soon", "run", "session_argv", "settings",
           "start_for", "start_soon"]
