"""What every SSH connection shares is read once (essay/remote/connect.py): the indexed
ssh_config lookup answers exactly what paramiko's own lookup answers; known_hosts is
parsed once and again only when it changes."""
import io

import paramiko

from essay.remote import connect

SSH_CONFIG = """\
Host web1 web2
    HostName 10.0.0.11
    User deploy
Host *.example.com !bad.example.com
    Port 2222
Host web2
    User second
    IdentityFile ~/.ssh/two
Match host web3
    User matched
Host web*
    ConnectTimeout 7
Host lb
    HostName 10.0.0.10
Host *
    ServerAliveInterval 30
"""


def parsed(text=SSH_CONFIG):
    c = paramiko.SSHConfig()
    c.parse(io.StringIO(text))
    return c


def test_indexed_lookup_is_paramikos_lookup():
    plain, fast = parsed(), connect.indexed(parsed())
    for host in ("web1", "web2", "web3", "lb", "a.example.com", "bad.example.com", "other",
                 "10.0.0.11", "WEB1"):
        assert fast.lookup(host) == plain.lookup(host), host


def test_a_canonicalizing_config_is_read_whole():
    text = "Host *\n    CanonicalizeHostname yes\n    CanonicalDomains example.com\n" + \
        SSH_CONFIG
    assert connect.indexed(parsed(text)).lookup("web1") == parsed(text).lookup("web1")


def test_known_hosts_parsed_once_and_again_when_changed(tmp_path):
    path = tmp_path / "known_hosts"
    line = "web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    path.write_text(line)
    first = connect.known_keys(str(path))
    assert connect.known_keys(str(path)) is first           # not parsed again
    assert first.lookup("web1") and not first.lookup("web2")
    path.write_text(line + line.replace("web1", "web2"))
    again = connect.known_keys(str(path))
    assert again is not first and again.lookup("web2")
    assert len(connect.known_keys(str(tmp_path / "missing"))) == 0


def test_the_open_files_limit_is_raised_for_a_fleet():
    import resource

    from essay.remote.connect import raise_fd_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        raise_fd_limit(1000)
        now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert now == (2064 if hard == resource.RLIM_INFINITY else min(2064, hard))
        raise_fd_limit(10)                                   # never lowered
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == now
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
