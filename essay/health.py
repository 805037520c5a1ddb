"""Health checks, run on the hosts: every process of a colour must answer 200.

The check is a small Python program (hosts have python3: it makes the virtualenvs)
given on the command line, quoted; it polls every URL until all answer 200 or the
deadline passes, prints one line per URL, and reports each answering version with
``essay_data``-style markers. ``/health`` answering JSON ``{"version": ...}`` is what the
templates do; any other 200 body counts as healthy too. Given the version just deployed,
a process answering another version is not healthy: something else (a stale process from
an earlier run) holds the port, and the new one is not serving.
"""
from __future__ import annotations

from essay.remote.shell import q

#: What every health program starts with: ``get(url, host)`` opens ``url`` (never via a
#: proxy) sending ``Host: host`` when ``host`` is set -- ``[deploy] health_host``, the name
#: an app that checks Host (Django's ALLOWED_HOSTS) accepts. One definition for the
#: deploy's, flip's, status's, secrets' and release's checks.
_GET = r'''
import json, sys, time, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
def get(url, host):
    return opener.open(urllib.request.Request(url, headers={"Host": host} if host else {}),
                       timeout=2)
'''.strip()

_PROGRAM = _GET + "\n" + r'''
deadline = time.monotonic() + float(sys.argv[1])
want, host = sys.argv[2:4]
urls = sys.argv[4:]
last = {u: "no answer yet" for u in urls}
ok = {}
while True:
    for u in urls:
        if u in ok:
            continue
        try:
            with get(u, host) as r:
                body = r.read(4096).decode("utf-8", "replace")
                try:
                    got = str(json.loads(body).get("version", "?"))
                except Exception:
                    got = "?"
                if want and got != "?" and got != want:
                    last[u] = "HTTP 200 from version %s, expected %s" % (got, want)
                else:
                    ok[u] = got
        except urllib.error.HTTPError as e:
            body = " ".join(e.read(400).decode("utf-8", "replace").split())  # one line
            last[u] = "HTTP %s %s" % (e.code, body[:100] + ("..." if len(body) > 100 else ""))
        except Exception as e:
            last[u] = "%s: %s" % (type(e).__name__, getattr(e, "reason", e))
    if len(ok) == len(urls) or time.monotonic() > deadline:
        break
    time.sleep(0.25)
for u in urls:
    if u in ok:
        print("healthy   %s  version %s" % (u, ok[u]))
        print("::essay:: data healthy %s %s" % (u, ok[u]))
    else:
        print("UNHEALTHY %s  last answer: %s" % (u, last[u]))
        print("::essay:: data unhealthy %s %s" % (u, last[u]))
sys.exit(0 if len(ok) == len(urls) else 3)
'''.strip()


_WATCH = _GET + "\n" + r'''
end = time.monotonic() + float(sys.argv[1])
host, urls = sys.argv[2], sys.argv[3:]
strikes = {}
while time.monotonic() < end:
    for u in urls:
        try:
            with get(u, host):
                strikes[u] = 0
        except Exception as e:
            strikes[u] = strikes.get(u, 0) + 1
            if strikes[u] >= 3:
                print("UNHEALTHY %s: %s" % (u, getattr(e, "reason", e)))
                sys.exit(3)
    time.sleep(0.5)
print("healthy for %ss: %s" % (sys.argv[1], " ".join(urls)))
'''.strip()


def watch(python: str, targets: list[str], seconds: float, host: str = "") -> str:
    """Shell text that fails as soon as a target fails 3 checks in a row within
    ``seconds`` (``es release`` watching a colour it just made live); ``host``: the Host
    header, as for :func:`check`."""
    return " ".join([python, "-c", q(_WATCH), q(f"{seconds:g}"), q(host),
                     *map(q, targets)])


def urls(addresses, ports, path: str) -> list[str]:
    return [f"http://{a}:{p}{path}" for a in addresses for p in ports]


def check(python: str, targets: list[str], deadline: float, version: str = "",
          version_word: str | None = None, host: str = "") -> str:
    """Shell text that checks ``targets`` until healthy or ``deadline`` seconds pass;
    with ``version``, only a process answering that version counts as healthy; ``host``:
    the Host header to send (``[deploy] health_host``; Django's ALLOWED_HOSTS).
    ``version_word`` instead is a shell word *the builder* writes (e.g. a ``$(...)`` that
    reads the recorded version on the lb) -- never user input."""
    want = version_word if version_word is not None else q(version)
    return " ".join([python, "-c", q(_PROGRAM), q(f"{deadline:g}"), want, q(host),
                     *map(q, targets)])


def local(cfg, python: str, color: str, deadline: float, version: str = "") -> str:
    """:func:`check` of every process of ``color`` on this host (``127.0.0.1``), as
    essay.toml says: the colour's ports, ``health_path`` and ``health_host`` -- what a
    deploy, ``es status`` and a secrets restart check."""
    return check(python, urls(["127.0.0.1"], cfg.ports[color], cfg.health_path), deadline,
                 version, host=cfg.health_host)


_SERVES = _GET + "\n" + r'''
url, host, want = sys.argv[1:4]
end = time.monotonic() + 3
seen = None
while time.monotonic() < end:
    try:
        with get(url, host) as r:
            seen = r.headers.get("X-Essay-Color")
    except urllib.error.HTTPError as e:
        seen = e.headers.get("X-Essay-Color")
    except Exception as e:
        seen = "?"
    if seen in (want, None):
        break
    time.sleep(0.1)
if seen is None:
    print("nginx answers without X-Essay-Color: not verified (the site template lacks it)")
elif seen == "?":
    print("nginx does not answer on %s: not verified" % url)
elif seen != want:
    print("nginx still serves colour %s, not %s, after the switch" % (seen, want))
    sys.exit(9)
else:
    print("nginx serves colour %s" % want)
'''.strip()


def serves(python: str, url: str, host: str, color_word: str) -> str:
    """Shell text that checks, through nginx itself, that it now serves the colour in
    ``color_word`` (a shell word the builder writes) -- by the X-Essay-Color header the
    site template adds. Fails (exit 9) only on a definite other colour."""
    return " ".join([python, "-c", q(_SERVES), q(url), q(host), color_word])


def parse(values: list[str]) -> dict[str, str]:
    """``url version`` data lines -> {url: version}."""
    out = {}
    for v in values:
        url, _, rest = v.partition(" ")
        out[url] = rest
    return out


_OWNERS = r'''
import os, sys
color, ports = sys.argv[2], [int(p) for p in sys.argv[3:]]
try:
    sup = int(sys.argv[1])
except ValueError:
    sup = None
listening = {}                                  # socket inode -> (port, uid)
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        port = int(f[1].rsplit(":", 1)[1], 16)
        if f[3] == "0A" and port in ports:     # 0A: LISTEN
            listening[f[9]] = (port, int(f[7]))
holders = {p: set() for p in ports}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir("/proc/%s/fd" % pid):
            link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            if link.startswith("socket:[") and link[8:-1] in listening:
                holders[listening[link[8:-1]][0]].add(int(pid))
    except OSError:
        pass
def parent(pid):
    try:
        return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0
def ours(pid):
    while pid > 1:
        if pid == sup:
            return True
        pid = parent(pid)
    return False
def describe(pid):
    try:
        cmd = open("/proc/%d/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        cmd = "?"
    return "pid %d (%s)" % (pid, cmd[:160])
bad = 0
for port in ports:
    pids = sorted(holders[port])
    uids = sorted({u for p, u in listening.values() if p == port})
    if any(ours(p) for p in pids):
        print("port %d: served by colour %s's processes (supervisord pid %s)" % (port, color, sup))
        continue
    bad += 1
    if pids:
        who = ", ".join(describe(p) for p in pids[:3])
    elif uids:
        who = "a process of uid %s (another user: not visible here)" % ",".join(map(str, uids))
    else:
        who = "nobody: nothing listens there"
    print("port %d: held by %s, not by colour %s's supervisord (pid %s)" % (port, who, color, sup))
    print("::essay:: data foreign_port %d %s" % (port, who))
sys.exit(3 if bad else 0)
'''.strip()


def owners(python: str, supervisord_pid_word: str, color: str, ports) -> str:
    """Shell text that checks every port in ``ports`` is listened on by a process of the
    colour's own supervisord (a descendant of its pid, by /proc; ``supervisord_pid_word``
    is a shell word the builder writes, e.g. ``"$(supervisorctl pid)"``); exits 3
    naming the port and who holds it otherwise -- an earlier install's processes answering
    the health check in place of ones that could not bind."""
    return " ".join([python, "-c", q(_OWNERS), supervisord_pid_word, q(color),
                     *map(q, map(str, ports))])
