"""Opening SSH connections at fleet scale: what every connection shares is read once.

Per host, Fabric and paramiko would otherwise re-read files that grow with the fleet, so
the client's CPU per host grew with the number of hosts (measured: 28 of 33 ms per host
at 100 hosts went to re-parsing ``~/.ssh/config`` and ``known_hosts``):

* the ssh_config files are parsed once per executor, not per host (each connection
  gets its own Fabric ``Config`` over that one parse), and looked up through an index (:func:`indexed`): a host's lookup reads the entries
  that name it and the general ones (wildcards, negations, ``Match``), not all of them;
* ``known_hosts`` is parsed once per file (again only when the file changes), and each
  client gets just its own host's keys (verification is unchanged: paramiko's
  ``RejectPolicy`` refuses a host whose key is not there, ``BadHostKeyException`` on a
  changed key);
* with ``[ssh] accept_new_host_keys`` a new host's key is appended to the first
  known_hosts file (under the executor's lock), like OpenSSH's ``accept-new``; the file
  is never rewritten.
"""
from __future__ import annotations

import math
import os
import threading

from essay.remote import hosts as hostmod

IDLE_WAKEUP = 1.0   # seconds between the transport thread's checks while nothing arrives
_keys: dict[str, tuple[tuple, object]] = {}
_keys_lock = threading.Lock()


def _stamp(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def known_keys(path: str):
    """The parsed known_hosts file ``path`` (a paramiko ``HostKeys``; empty if missing)."""
    from paramiko import HostKeys

    stamp = _stamp(path)
    with _keys_lock:
        cached = _keys.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    keys = HostKeys()
    if stamp is not None:
        keys.load(path)
    with _keys_lock:
        _keys[path] = (stamp, keys)
    return keys


def key_name(conn) -> str:
    """The name paramiko checks the host key under: ``host`` or ``[host]:port``."""
    return conn.host if conn.port == 22 else f"[{conn.host}]:{conn.port}"


def shared_ssh_config():
    """The ssh_config files, parsed once (as Fabric reads them), looked up by index."""
    from fabric import Config

    return indexed(Config().base_ssh_config)   # /etc/ssh/ssh_config and ~/.ssh/config


def _config(ssh_config):
    """A Fabric Config per connection (a shared one is not safe across threads: measured,
    an intermittent empty config under load), over the shared parsed ssh_config."""
    from fabric import Config

    return Config(ssh_config=ssh_config)


def indexed(config):
    """``config`` (a paramiko ``SSHConfig``) with a lookup that reads only the entries
    that can match: ``Host`` lines of plain names are indexed by name; entries with
    wildcards, negations or ``Match`` are always read, in file order, so the result is
    what paramiko's own lookup gives (tests/test_output.py checks). Canonicalization
    looks up another name: with it the whole file is read."""
    from paramiko import SSHConfig

    class Indexed(SSHConfig):
        def __init__(self, entries):
            super().__init__()
            self._config = entries       # paramiko's parsed entries, in file order
            self._by_name: dict[str, list[int]] = {}
            self._general: list[int] = []
            self._canonical = False
            for i, ctx in enumerate(entries):
                names = ctx.get("host")
                if "canonicalizehostname" in ctx.get("config", {}):
                    self._canonical = True
                if names and not any(c in n for n in names for c in "*?!"):
                    for n in names:
                        self._by_name.setdefault(n, []).append(i)
                else:
                    self._general.append(i)

        def lookup(self, hostname):
            if self._canonical:
                return super().lookup(hostname)
            view = SSHConfig()
            view._config = [self._config[i] for i in
                            sorted({*self._general, *self._by_name.get(hostname, ())})]
            return view.lookup(hostname)

    return Indexed(config._config)


def open_connection(host: str, ssh_config, connect_timeout: float, accept_new: bool,
                    lock: threading.Lock):
    """A Fabric ``Connection`` to ``host``, opened, its host key verified.
    ``ssh_config``: from :func:`shared_ssh_config`."""
    from fabric import Connection
    from paramiko import AutoAddPolicy, RejectPolicy

    conn = Connection(host, config=_config(ssh_config),
                      connect_timeout=max(1, math.ceil(connect_timeout)))
    known = hostmod.known_hosts_files(host)
    name = key_name(conn)
    mine = conn.client.get_host_keys()
    for path in known:
        for ktype, key in (known_keys(path).lookup(name) or {}).items():
            mine.add(name, ktype, key)
    had = name in mine
    conn.client.set_missing_host_key_policy(AutoAddPolicy() if accept_new else RejectPolicy())
    conn.open()
    # paramiko's transport thread wakes every 0.1 s to see whether it should stop: over a
    # long deploy that is most of the client's CPU per host (measured: 3.1 ms per host
    # per 10 s). Closing does not wait for it (the packetizer is closed first), so 1 s
    # costs nothing but 10 times fewer wake-ups.
    conn.client.get_transport().sock.settimeout(IDLE_WAKEUP)
    if accept_new and not had:
        key = conn.client.get_transport().get_remote_server_key()
        with lock:  # hosts connect in parallel: one writer at a time
            os.makedirs(os.path.dirname(known[0]) or ".", exist_ok=True)
            with open(known[0], "a", encoding="utf-8") as f:
                f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
    return conn


def raise_fd_limit(connections: int, per_connection: int = 2, spare: int = 64):
    """Connections stay open until the command ends: one socket each (plus a pipe for a
    local run). A fleet above the soft limit of open files (often 1024) would fail
    host by host with EMFILE; the soft limit is raised toward the hard one, as needed."""
    import resource

    need = connections * per_connection + spare
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            pass   # then EMFILE names the hosts it hits, one line each
