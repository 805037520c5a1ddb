"""Real-infrastructure test rig for essay: network namespaces, sshd, nginx. No mocks.

``Rig`` builds, on one Linux box (needs root, ``ip netns``, OpenSSH, nginx):

* a bridge ``esbr0`` with 10.200.0.1/24 in the root namespace -- the client side;
  tests run pypiserver on ``rig.index_address`` so the hosts can reach it;
* per host (``web1..webN`` = 10.200.0.(10+N), ``lb`` = 10.200.0.10, and with ``n_lb``
  more lbs ``lb2``, ``lb3``… = .9, .8…): a network
  namespace ``es-<host>`` (veth on the bridge, default route via the bridge address),
  a unix user ``es-<host>`` (home ``<base_dir>/<host>``) and a real sshd on port 22;
* on every lb (``rig.lbs``) an unprivileged nginx including ``<lb home>/nginx/conf.d/*.conf``;
* a client HOME (``rig.home``) whose ``.ssh/config`` and ``.ssh/known_hosts`` name
  every host by alias: Fabric/paramiko use it with ``HOME=rig.home``, OpenSSH with
  ``ssh -F rig.ssh_config`` (see ``ssh_argv``).

Starting a rig first removes what a crashed run with the same ``tag`` left behind -- but
never a rig that is still running: a started rig holds an exclusive lock on its tag and on
its subnet (``/run/essay-rig-*.lock``, released when its process ends), and a second rig
asking for either fails at once naming it (set ``ESSAY_RIG_TAG``/``ESSAY_RIG_SUBNET``).
Two rigs can run side by side only with different ``tag``s and ``subnet``s.
``sh`` and ``http_get`` enter the namespaces directly, not through ssh or essay.
"""
import fcntl
import json
import os
import re
import shutil
from pathlib import Path

try:
    from .rig_nginx import Nginx
    from .rig_util import RigError, kill_all, run, uid_of, wait_banner
except ImportError:                     # tests/ is not a package: pytest puts it on sys.path
    from rig_nginx import Nginx
    from rig_util import RigError, kill_all, run, uid_of, wait_banner

__all__ = ["Rig", "RigError", "HOST_PATH", "extra_rig"]

MARKER = ".essay-rig"   # file in base_dir: proves it is ours before rm -rf
GECOS = "essay-rig"     # comment on rig users: finds a crashed run's users
#: PATH of host users, over ssh (sshd ``SetEnv``) and in ``Rig.sh``: /usr/bin first.
HOST_PATH = "/usr/bin:/bin:/usr/local/bin"
SSHD_CONFIG = """\
ListenAddress {addr}:22
HostKey {d}/ssh_host_ed25519_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
AllowUsers {user}
LogLevel DEBUG1
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
MaxStartups 100
MaxSessions 50
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
SetEnv PATH={path}
Subsystem sftp /usr/lib/openssh/sftp-server
"""
CLIENT_HOST = """\
Host {alias}
    HostName {addr}
    User {user}
    Port 22
    IdentityFile {key}
    IdentitiesOnly yes
    UserKnownHostsFile {known}
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 10
"""
#: sshd 9.2 logs (LogLevel VERBOSE and up) one line per session channel it starts:
#: "Starting session: command for es-web1 from ..." (also "command on pts/0 for"),
#: "Starting session: shell on pts/0 for ...", "Starting session: subsystem 'sftp' for".
CHANNEL_RE = re.compile(r"^Starting session: (?:(command|shell)|subsystem '([^']+)') ", re.M)
LOGIN_RE = re.compile(r"^Accepted publickey for ", re.M)


def extra_rig(rig, n):
    """Tag and subnet for the ``n``-th extra rig beside ``rig`` (n = 1, 2, 3): the tag gets
    ``n`` appended and the subnet's third number grows by ``n`` (es/10.200.0 -> es1/10.201.0),
    so test runs with their own ESSAY_RIG_TAG/SUBNET never collide on extra rigs either."""
    a, b, c = rig.subnet.split(".")
    return f"{rig.tag}{n}", f"{a}.{b}.{int(c) + n}"


class Rig:
    """Deploy targets ``web1..webN`` and ``lb``: each a namespace, a user and an sshd."""

    def __init__(self, n_web=2, base_dir=None, tag="es", subnet="10.200.0", n_lb=1):
        if not 1 <= n_web <= 200:
            raise ValueError("n_web must be between 1 and 200")
        if not 1 <= n_lb <= 9:
            raise ValueError("n_lb must be between 1 and 9")
        self.tag, self.subnet, self.bridge = tag, subnet, f"{tag}br0"
        self.base = Path(base_dir or ("/srv/essay-rig" if tag == "es" else f"/srv/essay-rig-{tag}"))
        self.web = [f"web{i}" for i in range(1, n_web + 1)]
        self.lbs = ["lb"] + [f"lb{i}" for i in range(2, n_lb + 1)]
        self.lb = self.lbs[0]               # the first lb; ``lbs`` has them all
        self.hosts = [*self.web, *self.lbs]
        self.index_address = f"{subnet}.1"
        self.home = str(self.base / ".rig" / "client")  # client HOME for Fabric/paramiko
        self.ssh_config = f"{self.home}/.ssh/config"
        self.known_hosts = f"{self.home}/.ssh/known_hosts"
        self.key = f"{self.home}/.ssh/id_ed25519"
        self.nginxes = {alias: Nginx(self, alias) for alias in self.lbs}
        self.nginx = self.nginxes[self.lb]
        self._marks = {}

    # -- naming -----------------------------------------------------------------
    def address(self, alias):
        """IP address of a host: lb = .10, lbK = .(11-K), webN = .(10+N)."""
        if alias == "lb":
            return f"{self.subnet}.10"
        if alias.startswith("lb"):
            return f"{self.subnet}.{11 - int(alias[2:])}"
        return f"{self.subnet}.{10 + int(alias[3:])}"

    def user(self, alias):
        """The host's unix user, e.g. ``es-web1``."""
        return f"{self.tag}-{alias}"

    def netns(self, alias):
        """The host's network namespace, e.g. ``es-web1``."""
        return f"{self.tag}-{alias}"

    def home_of(self, alias):
        """The host user's home directory (the remote ``~``)."""
        return str(self.base / alias)

    def sshd_dir(self, alias):
        """Root-owned rig files of a host: sshd_config, host key, sshd.log, sshd.pid."""
        return self.base / ".rig" / "hosts" / alias

    # -- lifecycle ----------------------------------------------------------------
    def start(self):
        """Build everything and return self; on failure tear down and raise RigError."""
        for tool in ("ip", "/usr/sbin/sshd", "ssh-keygen", "setpriv", "useradd", "/usr/sbin/nginx"):
            if not shutil.which(tool):
                raise RigError(f"{tool} not found")
        if os.geteuid() != 0:
            raise RigError("the rig needs root (network namespaces, users, sshd)")
        self._claim()                       # a live rig with our tag or subnet: refuse
        try:
            self._teardown()                # a crashed run's leftovers
            if self.base.exists() and any(self.base.iterdir()):
                raise RigError(f"{self.base} is not empty and not a rig dir; remove it")
            self._make_dirs()
            run(["ip", "link", "add", self.bridge, "type", "bridge"])
            run(["ip", "addr", "add", f"{self.index_address}/24", "dev", self.bridge])
            run(["ip", "link", "set", self.bridge, "up"])
            for alias in self.hosts:
                self._host(alias)
            self._client_config()
            for alias in self.hosts:
                if not wait_banner(self.address(alias)):
                    log = Path(self.sshd_dir(alias), "sshd.log")
                    raise RigError(f"sshd on {alias} does not answer; its log:\n"
                                   + (log.read_text() if log.exists() else "(none)"))
            for nginx in self.nginxes.values():
                nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Kill everything the rig and deploys started, remove every trace. Idempotent."""
        if getattr(self, "_locks", None) is None:
            self._claim()                   # never tear down a rig another run holds
        try:
            self._teardown()
        finally:
            self._marks.clear()
            for f in self._locks:
                f.close()                   # closing releases the flock
            self._locks = None

    def _claim(self):
        """Hold exclusive locks on this rig's tag and subnet for as long as it lives (or
        until :meth:`stop`); another live rig holding either -> RigError naming it."""
        if getattr(self, "_locks", None) is not None:
            return
        locks = []
        for what, name in (("tag", self.tag), ("subnet", self.subnet)):
            f = open(f"/run/essay-rig-{what}-{name}.lock", "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                for g in locks:
                    g.close()
                raise RigError(f"rig {what} {name!r} is in use by a running rig ({holder}): "
                               "give this run its own ESSAY_RIG_TAG and ESSAY_RIG_SUBNET")
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}\n")
            f.flush()
            locks.append(f)
        self._locks = locks

    def _make_dirs(self):
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / MARKER).touch()
        for p in self.base.parents:     # host users must reach their homes
            if not p.stat().st_mode & 0o001:
                raise RigError(f"{p} is not traversable by other users; choose another base_dir")
        Path(self.home, ".ssh").mkdir(parents=True, mode=0o700)
        Path(self.base, ".rig", "hosts").mkdir(parents=True)
        for d in (self.base, self.base / ".rig", self.base / ".rig" / "hosts"):
            d.chmod(0o755)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # sshd's privilege separation dir
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "essay-rig-client",
             "-f", self.key])

    def _host(self, alias):
        """Namespace + veth, user, host key, sshd config; start sshd."""
        ns, user, addr, d = self.netns(alias), self.user(alias), self.address(alias), self.sshd_dir(alias)
        veth = f"{self.tag}v-{alias}"
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "link", "set", veth, "master", self.bridge, "up"])
        run(["ip", "-n", ns, "-batch", "-"], input=f"addr add {addr}/24 dev eth0\n"
            f"link set lo up\nlink set eth0 up\nroute add default via {self.index_address}\n")
        home = self.home_of(alias)
        run(["useradd", "-m", "-d", home, "-s", "/bin/bash", "-c", GECOS, "-U", user])
        run(["usermod", "-p", "*", user])   # sshd refuses locked ('!') accounts when UsePAM=no
        os.chmod(home, 0o755)
        d.mkdir()
        d.chmod(0o755)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", alias,
             "-f", f"{d}/ssh_host_ed25519_key"])
        shutil.copy(self.key + ".pub", d / "authorized_keys")   # read as the user: 0644
        (d / "sshd_config").write_text(SSHD_CONFIG.format(addr=addr, d=d, user=user, path=HOST_PATH))
        run(["ip", "netns", "exec", ns, "/usr/sbin/sshd", "-f", f"{d}/sshd_config",
             "-E", f"{d}/sshd.log"])

    def _client_config(self):
        conf, keys = [], []
        for alias in self.hosts:
            conf.append(CLIENT_HOST.format(alias=alias, addr=self.address(alias), user=self.user(alias),
                                           key=self.key, known=self.known_hosts))
            pub = self.sshd_dir(alias).joinpath("ssh_host_ed25519_key.pub").read_text().split()
            keys += [f"{self.address(alias)} {pub[0]} {pub[1]}\n", f"{alias} {pub[0]} {pub[1]}\n"]
        Path(self.ssh_config).write_text("\n".join(conf))
        Path(self.known_hosts).write_text("".join(keys))

    def _teardown(self):
        """Kill processes (of the users, in the namespaces, sshds by config path), then
        delete veths, namespaces, bridge, users and base dir -- ours and any a crashed
        run with this tag left."""
        prefix = f"{self.tag}-"
        names = set(self.hosts)
        names |= {n[len(prefix):] for n in os.listdir("/run/netns") if n.startswith(prefix)} \
            if os.path.isdir("/run/netns") else set()
        for line in Path("/etc/passwd").read_text().splitlines():
            f = line.split(":")
            if len(f) > 4 and f[0].startswith(prefix) and f[4] == GECOS:
                names.add(f[0][len(prefix):])
        users = [prefix + n for n in names if uid_of(prefix + n) is not None]
        survivors = kill_all(uids=[uid_of(u) for u in users],
                             netns_files=[f"/run/netns/{prefix}{n}" for n in names],
                             argv_mark=f"{self.base}/.rig/hosts/".encode())
        batch = "".join(f"link del {self.tag}v-{n}\nnetns del {prefix}{n}\n" for n in names)
        run(["ip", "-force", "-batch", "-"], check=False, input=batch + f"link del {self.bridge}\n")
        for user in users:
            run(["userdel", "-f", user], check=False)
        if (self.base / MARKER).exists():
            shutil.rmtree(self.base, ignore_errors=True)
        if survivors:
            raise RigError(f"processes survived SIGKILL: {survivors}")

    # -- acting on hosts ----------------------------------------------------------
    def ssh_argv(self, alias, *cmd):
        """OpenSSH command line for the host: ``['ssh', '-F', rig.ssh_config, alias, *cmd]``."""
        return ["ssh", "-F", self.ssh_config, alias, *cmd]

    def sh(self, alias, command, check=True, timeout=60, input=None):
        """Run a bash command as the host user inside its namespace (not via ssh).

        Runs in the user's home with a clean environment (HOME, USER, PATH=HOST_PATH...).
        Returns the CompletedProcess (text); raises RigError if ``check`` and it fails.
        Output is captured until every holder of stdout/stderr exits: start background
        processes with ``setsid nohup cmd >/dev/null 2>&1 </dev/null &``.
        """
        user, home = self.user(alias), self.home_of(alias)
        env = [f"HOME={home}", f"USER={user}", f"LOGNAME={user}", "SHELL=/bin/bash",
               f"PATH={HOST_PATH}", "LANG=C.UTF-8"]
        return run(["ip", "netns", "exec", self.netns(alias), "setpriv", "--reuid", user,
                    "--regid", user, "--init-groups", "env", "-i", *env, "/bin/bash", "-c", command],
                   check=check, timeout=timeout, cwd=home, input=input)

    def http_get(self, alias, port, path="/", timeout=5, host="127.0.0.1"):
        """HTTP GET ``http://host:port/path`` from inside the host's namespace.

        Returns ``(status, body_text)`` for any HTTP answer, 4xx/5xx included; raises
        ConnectionError when there is none (refused, reset, timed out).
        """
        script = ("import http.client,json,sys;a=sys.argv;"
                  "c=http.client.HTTPConnection(a[1],int(a[2]),timeout=float(a[4]));"
                  "c.request('GET',a[3]);r=c.getresponse();"
                  "print(json.dumps([r.status,r.read().decode('utf-8','replace')]))")
        p = run(["ip", "netns", "exec", self.netns(alias), "/usr/bin/python3", "-I", "-c", script,
                 host, str(port), path, str(timeout)], check=False, timeout=timeout + 10)
        if p.returncode:
            err = (p.stderr.strip().splitlines() or ["?"])[-1]
            raise ConnectionError(f"GET http://{host}:{port}{path} from {alias}: {err}")
        status, body = json.loads(p.stdout)
        return status, body

    # -- counting round trips -----------------------------------------------------
    def mark(self, alias):
        """Remember the current end of the host's sshd log (for ``channels``)."""
        self._marks[alias] = (self.sshd_dir(alias) / "sshd.log").stat().st_size

    def channels(self, alias):
        """Session channels sshd started since ``mark(alias)``, by kind.

        Returns ``{'exec': n, 'shell': k, 'sftp': m}`` plus any other subsystem by name.
        One Fabric ``run`` or one ``ssh host cmd`` is exactly one ``exec``; each SFTP
        session (Fabric ``put``/``get``, paramiko ``open_sftp``) one ``sftp``.
        """
        counts = {"exec": 0, "shell": 0, "sftp": 0}
        for m in CHANNEL_RE.finditer(self._log_since_mark(alias)):
            kind = "exec" if m.group(1) == "command" else m.group(1) or m.group(2)
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def connections(self, alias):
        """SSH logins (``Accepted publickey for``) on the host since ``mark(alias)``."""
        return len(LOGIN_RE.findall(self._log_since_mark(alias)))

    def _log_since_mark(self, alias):
        # sshd's per-connection child writes these lines itself, before it runs the
        # command, so they are in the file by the time the client sees the result.
        with open(self.sshd_dir(alias) / "sshd.log", "rb") as f:
            f.seek(self._marks.get(alias, 0))
            return f.read().decode("utf-8", "replace")

    # -- nginx on lb and essay.toml --------------------------------------------------
    nginx_site = property(lambda self: self.nginx.site, doc="'~/nginx/conf.d/demo.conf'")
    nginx_site_abs = property(lambda self: self.nginx.site_abs, doc="absolute site path")
    nginx_test = property(lambda self: self.nginx.test, doc="shell command: nginx -t")
    nginx_reload = property(lambda self: self.nginx.reload, doc="shell command: reload")
    nginx_pid_file = property(lambda self: self.nginx.pid_file, doc="'~/nginx/nginx.pid'")

    def essay_toml(self, name="demo", index_url=None, extra="", upload_url=None):
        """An essay.toml (text) for a project deployed onto this rig.

        ``index_url``: the simple index as the hosts see it (on ``index_address``).
        ``upload_url`` defaults to the same port on 127.0.0.1. ``extra`` is appended.
        """
        if not index_url:
            raise ValueError(f"index_url is required, e.g. http://{self.index_address}:PORT/simple/")
        if upload_url is None:
            port = re.match(r"\w+://[^/:]+:(\d+)", index_url)
            upload_url = f"http://127.0.0.1:{port.group(1) if port else 80}/"
        q = json.dumps      # a JSON string is a valid TOML basic string
        return f"""\
[project]
name = {q(name)}

[index]
url = {q(index_url)}
upload_url = {q(upload_url)}

[roles]
web = {q(self.web)}
lb = {q(self.lbs)}

[deploy]
prefix = {q("~/" + name)}
python = "/usr/bin/python3"
processes = 2
health_path = "/health"

[colors]
a = 8800
b = 8810

[nginx]
site = {q(self.nginx_site)}
test = {q(self.nginx_test)}
reload = {q(self.nginx_reload)}
pid_file = {q(self.nginx_pid_file)}
listen = 8080
""" + extra
