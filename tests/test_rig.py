"""Proof that the test rig (tests/rig.py) is real: namespaces, sshd, nginx, teardown."""
import contextlib
import http.client
import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import paramiko
import pytest
from fabric import Connection

from rig import Rig, RigError, extra_rig
from rig_util import live_pids, uid_of

pytestmark = pytest.mark.rig
HOSTS = ["web1", "web2", "lb"]


def wait_for(fn, timeout=5.0, interval=0.05):
    """Call fn until it returns without raising ConnectionError; return its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def get_from_root_ns(address, port, path):
    """HTTP GET from the test process itself (root namespace, on the bridge)."""
    c = http.client.HTTPConnection(address, port, timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read().decode()


@contextlib.contextmanager
def serving_whoami(rig, alias, port):
    """A python http.server on 0.0.0.0:port, run by the host user, serving /who."""
    pid = rig.sh(alias, f"mkdir -p www && whoami > www/who && cd www || exit 1; setsid nohup "
                        f"python3 -m http.server {port} >/dev/null 2>&1 </dev/null & echo $!"
                 ).stdout.strip()
    try:
        wait_for(lambda: rig.http_get(alias, port, "/who"))
        yield
    finally:
        rig.sh(alias, f"kill {pid}; rm -rf www", check=False)


def cmdlines(pids):
    """Command lines of those processes still alive."""
    for pid in pids:
        with contextlib.suppress(OSError):
            yield Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def ssh(rig, alias, command, **kw):
    """Run a command on the host with OpenSSH; stdin is /dev/null unless input= is given."""
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    return subprocess.run(rig.ssh_argv(alias, command), capture_output=True, text=True,
                          timeout=30, **kw)


def test_layout(rig):
    assert rig.hosts == ["web1", "web2", "lb"]
    n, t = rig.subnet, rig.tag
    assert (rig.web, rig.lb, rig.lbs, rig.index_address) == (["web1", "web2"], "lb", ["lb"], f"{n}.1")
    assert [rig.address(h) for h in rig.hosts] == [f"{n}.11", f"{n}.12", f"{n}.10"]
    assert rig.user("web2") == f"{t}-web2" and rig.home_of("lb") == str(rig.base / "lb")
    assert rig.ssh_argv("lb", "true") == ["ssh", "-F", rig.ssh_config, "lb", "true"]


@pytest.mark.parametrize("alias", HOSTS)
def test_openssh_reaches_each_host_as_itself(rig, alias):
    p = ssh(rig, alias, "whoami; hostname -I; pwd; echo $PATH; command -v python3")
    assert p.returncode == 0, p.stderr
    user, addresses, pwd, path, python = p.stdout.splitlines()
    assert user == rig.user(alias)
    assert addresses.split() == [rig.address(alias)]     # its own namespace, nothing else
    assert pwd == rig.home_of(alias)
    assert path.startswith("/usr/bin:") and python == "/usr/bin/python3"


@pytest.mark.parametrize("alias", HOSTS)
def test_fabric_reaches_each_host_with_verified_host_key(rig_home, alias):
    c = Connection(alias)               # resolved from rig.home/.ssh/config
    assert (c.host, c.user, c.port) == (rig_home.address(alias), rig_home.user(alias), 22)
    c.client.load_system_host_keys()    # $HOME/.ssh/known_hosts
    c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with c:
        out = c.run("whoami; ip -4 -o addr show dev eth0", hide=True, in_stream=False).stdout
    assert out.splitlines()[0] == rig_home.user(alias)
    assert f"inet {rig_home.address(alias)}/24" in out


def test_unknown_or_wrong_host_key_is_refused(rig, tmp_path, monkeypatch):
    # A HOME like rig.home, but whose known_hosts lacks web1 and has web2's key as lb's.
    lines = Path(rig.known_hosts).read_text().splitlines()
    key = {ln.split()[0]: ln.split(None, 1)[1] for ln in lines}
    known = [f"{h} {key[h]}" for h in ("web2", rig.address("web2"))]
    known += [f"{h} {key['web2']}" for h in ("lb", rig.address("lb"))]
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text("\n".join(known) + "\n")
    shutil.copy(rig.ssh_config, tmp_path / ".ssh" / "config")
    monkeypatch.setenv("HOME", str(tmp_path))

    def verified(alias):
        c = Connection(alias)
        c.client.load_system_host_keys()
        c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return c

    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        verified("web1").run("true", in_stream=False)
    with pytest.raises(paramiko.BadHostKeyException):
        verified("lb").run("true", in_stream=False)
    assert verified("web2").run("whoami", hide=True, in_stream=False).stdout.strip() == rig.user("web2")
    # OpenSSH, with the same known_hosts
    p = subprocess.run(rig.ssh_argv("web1", "-o", f"UserKnownHostsFile={tmp_path}/.ssh/known_hosts",
                                    "true"), capture_output=True, text=True, timeout=30)
    assert p.returncode == 255 and "Host key verification failed" in p.stderr
    # Beware: a bare fabric Connection checks nothing (AutoAddPolicy, no known_hosts).
    assert Connection("web1").run("whoami", hide=True, in_stream=False).stdout.strip() == rig.user("web1")


def test_same_port_in_two_namespaces(rig):
    with serving_whoami(rig, "web1", 18800), serving_whoami(rig, "web2", 18800):
        for alias in ("web1", "web2"):
            assert rig.http_get(alias, 18800, "/who") == (200, f"{rig.user(alias)}\n")
            assert rig.http_get("lb", 18800, "/who", host=rig.address(alias))[1].strip() \
                == rig.user(alias)
            assert get_from_root_ns(rig.address(alias), 18800, "/who")[1].strip() \
                == rig.user(alias)
        with pytest.raises(ConnectionError):
            rig.http_get("lb", 18800, "/who")        # nothing on lb's own loopback


def test_sh_runs_as_host_user_inside_namespace(rig):
    p = rig.sh("web2", "whoami; hostname -I; pwd; echo $HOME")
    assert p.stdout.split() == [rig.user("web2"), rig.address("web2"), rig.home_of("web2"), rig.home_of("web2")]
    assert rig.sh("web2", "exit 3", check=False).returncode == 3
    with pytest.raises(RigError, match="oops"):
        rig.sh("web2", "echo oops >&2; false")


def test_channels_count_exec_sftp_shell(rig_home, tmp_path):
    rig = rig_home
    rig.mark("web1")
    rig.mark("web2")
    Connection("web1").run("true", in_stream=False)
    assert rig.channels("web1") == {"exec": 1, "shell": 0, "sftp": 0}
    assert rig.connections("web1") == 1
    assert rig.channels("web2") == {"exec": 0, "shell": 0, "sftp": 0}

    with Connection("web1") as c:
        c.open()
        rig.mark("web1")
        for _ in range(3):
            c.run("true", hide=True, in_stream=False)
        c.run("true", pty=True, hide=True, in_stream=False)
        assert rig.channels("web1") == {"exec": 4, "shell": 0, "sftp": 0}
        assert rig.connections("web1") == 0
        (tmp_path / "f.txt").write_text("x")
        rig.mark("web1")
        c.put(str(tmp_path / "f.txt"), "f.txt")
        c.run("rm f.txt", in_stream=False)
        assert rig.channels("web1") == {"exec": 1, "shell": 0, "sftp": 1}

    rig.mark("web1")
    assert ssh(rig, "web1", "true").returncode == 0
    assert rig.channels("web1") == {"exec": 1, "shell": 0, "sftp": 0}
    rig.mark("web1")
    subprocess.run(rig.ssh_argv("web1", "-tt"), input="exit\n", text=True, capture_output=True,
                   timeout=30)
    assert rig.channels("web1") == {"exec": 0, "shell": 1, "sftp": 0}


SITE = """\
server {{
    listen 8080;
    location / {{ return 200 "hello from lb\\n"; }}
    location /web1/ {{ proxy_pass http://{web1}:18801/; }}
}}
"""


def test_nginx_serves_conf_d_site_after_reload(rig):
    assert rig.nginx_site == "~/nginx/conf.d/demo.conf"
    assert rig.nginx_site_abs == rig.home_of("lb") + "/nginx/conf.d/demo.conf"
    masters = rig.sh("lb", f"ps -u {rig.user('lb')} -o args=").stdout
    assert "nginx: master process" in masters                   # unprivileged, as the lb user
    with serving_whoami(rig, "web1", 18801):
        try:
            site = SITE.format(web1=rig.address("web1"))
            assert ssh(rig, "lb", f"cat > {rig.nginx_site}", input=site).returncode == 0
            with pytest.raises(ConnectionError):
                rig.http_get("lb", 8080)                        # not before the reload
            p = ssh(rig, "lb", rig.nginx_test)
            assert p.returncode == 0 and "test is successful" in p.stderr, p.stderr
            p = ssh(rig, "lb", rig.nginx_reload)
            assert p.returncode == 0, p.stderr
            assert wait_for(lambda: rig.http_get("lb", 8080)) == (200, "hello from lb\n")
            assert rig.http_get("web2", 8080, host=rig.address("lb")) == (200, "hello from lb\n")
            assert get_from_root_ns(rig.address("lb"), 8080, "/") == (200, "hello from lb\n")
            assert rig.http_get("lb", 8080, "/web1/who") == (200, rig.user("web1") + "\n")   # proxied
            # the test command really checks
            assert ssh(rig, "lb", f"echo 'server {{ oops }}' > {rig.nginx_site}").returncode == 0
            assert ssh(rig, "lb", rig.nginx_test).returncode != 0
        finally:
            ssh(rig, "lb", f"rm -f {rig.nginx_site} && {rig.nginx_reload}")
    wait_for_refused = time.monotonic() + 5
    while time.monotonic() < wait_for_refused:
        try:
            rig.http_get("lb", 8080, timeout=1)
            time.sleep(0.05)
        except ConnectionError:
            break
    else:
        pytest.fail("nginx still listens on 8080 after removing the site and reloading")


def test_hosts_python_makes_venvs_with_pip(rig):
    p = ssh(rig, "web1", "python3 -m venv ~/venv-probe && ~/venv-probe/bin/python -m pip "
                         "--version; rc=$?; rm -rf ~/venv-probe; exit $rc")
    assert p.returncode == 0, p.stderr
    assert "/venv-probe/lib/python3" in p.stdout


def test_essay_toml(rig):
    url = f"http://{rig.index_address}:8765/simple/"
    text = rig.essay_toml("demo", index_url=url,
                          extra='\n[extra]\nx = 1\n')
    conf = tomllib.loads(text)
    assert conf["project"]["name"] == "demo"
    assert conf["index"] == {"url": url,
                             "upload_url": "http://127.0.0.1:8765/"}
    assert conf["roles"] == {"web": ["web1", "web2"], "lb": ["lb"]}
    assert conf["deploy"]["prefix"] == "~/demo" and conf["colors"] == {"a": 8800, "b": 8810}
    assert conf["nginx"] == {"site": rig.nginx_site, "test": rig.nginx_test,
                             "reload": rig.nginx_reload, "pid_file": rig.nginx_pid_file,
                             "listen": 8080}
    assert conf["extra"] == {"x": 1}


def test_teardown_kills_host_user_processes(rig, make_rig):
    """A second rig next to the session one; stopping it leaves nothing behind."""
    tag, subnet = extra_rig(rig, 1)
    other = make_rig(tag=tag, subnet=subnet, n_web=1, n_lb=2)
    uids = [uid_of(other.user(h)) for h in other.hosts]
    # processes deploys leave behind: daemonized over ssh, detached via rig.sh, a server
    assert ssh(other, "web1", "setsid nohup sleep 1001 >/dev/null 2>&1 </dev/null &").returncode == 0
    other.sh("lb", "setsid nohup sleep 1002 >/dev/null 2>&1 </dev/null &")
    # the second lb has its own nginx, checked by the same command as the first (one essay.toml)
    assert other.lbs == ["lb", "lb2"] and other.address("lb2") == f"{subnet}.9"
    for lb in other.lbs:
        p = ssh(other, lb, other.nginx_test)
        assert p.returncode == 0 and "test is successful" in p.stderr, p.stderr
    assert 'lb = ["lb", "lb2"]' in other.essay_toml(index_url="http://x:1/simple/")
    other.sh("web1", "setsid nohup python3 -m http.server 18802 >/dev/null 2>&1 </dev/null &")
    wait_for(lambda: other.http_get("web1", 18802))
    running = " | ".join(cmdlines(live_pids(uids=uids)))
    for what in ("sleep 1001", "sleep 1002", "http.server 18802", "nginx: master", "nginx: worker"):
        assert what in running
    other.stop()
    assert live_pids(uids=uids) == []
    assert live_pids(argv_mark=str(other.base).encode()) == []
    assert not any(n.startswith(f"{tag}-") for n in os.listdir("/run/netns"))
    assert not Path(f"/sys/class/net/{tag}br0").exists() and not Path(f"/sys/class/net/{tag}v-web1").exists()
    assert [uid_of(other.user(h)) for h in other.hosts] == [None, None, None]
    assert not other.base.exists()
    other.stop()                                  # idempotent
    assert ssh(rig, "web1", "whoami").stdout.strip() == rig.user("web1")   # session rig unharmed


def test_failed_start_leaves_nothing_behind(rig, monkeypatch):
    tag, subnet = extra_rig(rig, 2)
    other = Rig(n_web=1, tag=tag, subnet=subnet)

    def boom():
        raise RigError("boom")

    monkeypatch.setattr(other.nginx, "start", boom)
    with pytest.raises(RigError, match="boom"):
        other.start()
    assert not any(n.startswith(f"{tag}-") for n in os.listdir("/run/netns"))
    assert not Path(f"/sys/class/net/{tag}br0").exists()
    assert uid_of(f"{tag}-web1") is None and not other.base.exists()
    assert live_pids(argv_mark=str(other.base).encode()) == []


def test_a_live_rig_is_never_torn_down_by_another_run(rig):
    """Another run asking for the session rig's tag (or its subnet) is refused at once --
    before its start clears "a crashed run's leftovers" -- and the session rig is unharmed.
    (A second test run without its own ESSAY_RIG_TAG once wiped a running CI rig.)"""
    a, b, c = rig.subnet.split(".")
    for other in (Rig(n_web=1, tag=rig.tag, subnet=f"{a}.{b}.{(int(c) + 7) % 250}"),
                  Rig(n_web=1, tag=rig.tag + "z", subnet=rig.subnet)):
        with pytest.raises(RigError, match="in use by a running rig"):
            other.start()
        with pytest.raises(RigError, match="in use by a running rig"):
            other.stop()
    assert ssh(rig, "web1", "whoami").stdout.strip() == rig.user("web1")
    assert Path(rig.base, "web1").is_dir()
