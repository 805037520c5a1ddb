"""Hosts: Fabric host strings, ssh_config aliases, and ``local``.

A host in essay.toml is what you would type after ``ssh``: ``web1`` (an alias from
``~/.ssh/config``), ``deploy@10.0.0.3:2222``, or the special name ``local`` -- this
machine, run with a local shell instead of SSH.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from functools import lru_cache

LOCAL = "local"


def is_local(host: str) -> bool:
    return host == LOCAL


def split(host: str) -> tuple[str | None, str, int | None]:
    """``user@host:port`` -> (user, host, port); brackets allowed around IPv6."""
    user = None
    if "@" in host:
        user, host = host.rsplit("@", 1)
    port = None
    if host.startswith("["):
        addr, _, rest = host[1:].partition("]")
        host = addr
        if rest.startswith(":"):
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, p = host.split(":")
        port = int(p)
    return user, host, port


@lru_cache(maxsize=None)
def _ssh_config():
    from paramiko import SSHConfig

    from essay.remote.connect import indexed

    path = os.path.expanduser("~/.ssh/config")
    return indexed(SSHConfig.from_path(path) if os.path.exists(path) else SSHConfig())


def hostname(name: str) -> str:
    """ssh_config's ``HostName`` for ``name``: as OpenSSH resolves it (``ssh -G``, which
    needs no paramiko import) when the ``ssh`` client is there, else paramiko's lookup."""
    from essay.remote import openssh

    if openssh.available():
        return openssh.hostnames([name])[name]
    return _ssh_config().lookup(name).get("hostname", name)


def prefetch(hosts) -> None:
    """Start resolving many hosts' ``HostName`` at once (in parallel, in the background):
    :func:`address` then waits only for what is still under way."""
    from essay.remote import openssh

    if openssh.available():
        openssh.resolve_soon([split(h)[1] for h in hosts if not is_local(h)])


def address(host: str) -> str:
    """The IP address nginx should use to reach ``host``: ssh_config HostName, resolved."""
    if is_local(host):
        return "127.0.0.1"
    _, name, _ = split(host)
    name = hostname(name)
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0]
    except OSError:
        return name


def known_hosts_files(host: str) -> list[str]:
    """The known_hosts files that apply to ``host`` (ssh_config UserKnownHostsFile)."""
    _, name, _ = split(host)
    files = _ssh_config().lookup(name).get("userknownhostsfile")
    paths = files.split() if isinstance(files, str) else list(files or [])
    return [os.path.expanduser(p) for p in paths] or [os.path.expanduser("~/.ssh/known_hosts")]
