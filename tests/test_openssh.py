"""The OpenSSH transport's pure parts (essay/remote/openssh.py): the command line, the
one-line messages for ssh's own failures, and ``ssh -G`` resolution. The transport
itself runs on the rig in every flip, rollback and status test (the lbs use it by
default) and in tests/test_executor.py."""
import os
import shutil
import tempfile

import pytest

from essay.remote import openssh


def _argv(host="web1", **kw):
    opts = dict(connect_timeout=10, accept_new=False, persist=60, control="/run/x")
    opts.update(kw)
    return openssh.argv(host, "bash -s 2>&1", **opts)


def test_argv_keeps_the_connection_and_checks_host_keys():
    a = _argv()
    assert a[0] == "ssh" and a[-3:] == ["--", "web1", "bash -s 2>&1"]
    joined = " ".join(a)
    for opt in ("BatchMode=yes", "StrictHostKeyChecking=yes", "ConnectTimeout=10",
                "ControlMaster=auto", "ControlPath=/run/x/%C", "ControlPersist=60", "-T"):
        assert opt in joined, opt


def test_argv_user_port_accept_new_and_no_kept_connection():
    a = _argv("deploy@10.0.0.3:2222", accept_new=True, persist=0)
    joined = " ".join(a)
    assert "-p 2222" in joined and "-l deploy" in joined and a[-2] == "10.0.0.3"
    assert "StrictHostKeyChecking=accept-new" in joined
    assert "ControlMaster=no" in joined and "ControlPath=none" in joined
    assert "ControlPersist" not in joined
    assert "-t" in _argv(tty=True)


def test_argv_names_home_ssh_config_when_home_is_not_the_passwd_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert openssh.config_args() == ["-F", "/dev/null"]
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host x\n")
    assert openssh.config_args() == ["-F", str(tmp_path / ".ssh" / "config")]


@pytest.mark.parametrize("stderr, says", [
    ("Host key verification failed.\r\n", "its host key is not in known_hosts"),
    ("No ED25519 host key is known for 10.0.0.1 and you have requested strict checking.\n"
     "Host key verification failed.", "its host key is not in known_hosts"),
    ("@@@\nWARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed.",
     "the host key CHANGED"),
    ("u@10.0.0.1: Permission denied (publickey).", "SSH authentication failed (publickey)"),
    ("ssh: connect to host 10.0.0.1 port 22: Connection timed out", "timed out connecting"),
    ("ssh: connect to host 10.0.0.1 port 22: Connection refused",
     "cannot connect: Connection refused"),
    ("ssh: connect to host 10.0.0.1 port 22: No route to host",
     "cannot connect: No route to host"),
    ("ssh: Could not resolve hostname nohost: Name or service not known",
     "cannot connect: Could not resolve hostname nohost"),
    ("Timeout, server 10.0.0.1 not responding.", "timed out connecting"),
    ("Connection closed by 10.0.0.1 port 22", "SSH error: Connection closed by 10.0.0.1"),
    ("", "SSH error: the connection closed (exit 255)"),
])
def test_error_messages_are_one_line_like_paramikos(stderr, says):
    msg = openssh.error_message("web2", stderr)
    assert msg.startswith("web2: ") and says in msg and "\n" not in msg


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")
def test_hostnames_come_from_ssh_G(tmp_path, monkeypatch):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host alias1\n  HostName 10.9.8.7\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(openssh, "_names", {})
    openssh.resolve_soon(["alias1"])
    assert openssh.hostnames(["alias1", "plain.example"]) == {
        "alias1": "10.9.8.7", "plain.example": "plain.example"}


def test_control_dir_is_private_and_short(monkeypatch):
    short = tempfile.mkdtemp(prefix="e", dir="/tmp")
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", short)
        path = openssh.control_for("web1")
        assert path == os.path.join(short, f"essay-ssh-{os.getuid()}")
        assert os.stat(path).st_mode & 0o777 == 0o700
        os.chmod(path, 0o755)                    # not private: no kept connection
        assert openssh.control_for("web1") is None
        monkeypatch.setenv("XDG_RUNTIME_DIR", short + "/" + "d" * 60)   # socket path too long
        assert openssh.control_for("web1") is None
    finally:
        shutil.rmtree(short)


def test_client_openssh_without_ssh_is_a_config_error(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from essay.config.reader import ConfigError
    from essay.remote.executor import Executor

    cfg = SimpleNamespace(ssh_client="openssh", parallel=4, accept_new_host_keys=False,
                          connect_timeout=10, control_persist=300, hosts=lambda role: [],
                          path="/srv/demo/essay.toml")
    monkeypatch.setenv("PATH", str(tmp_path))           # no ssh there
    with pytest.raises(ConfigError, match=r'^/srv/demo/essay.toml: \[ssh\] client is "openssh", but there is no `ssh`'):
        Executor.from_config(cfg)
    monkeypatch.setattr(openssh, "available", lambda: False)
    assert Executor.from_config(SimpleNamespace(**(cfg.__dict__ | {"ssh_client": "auto"}))) \
        .openssh_hosts == ()
