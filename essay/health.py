"""Health checks, run on the hosts: every process of a colour must answer 200.

The check is a small Python program (hosts have python3: it makes the virtualenvs)
given on the command line, quoted; it polls every URL (one after another, or 32 at a
time for a fleet) until all answer 200 or the deadline passes -- each URL is asked at
least once whatever the deadline -- prints one line per URL, and reports each answering version with
``essay_data``-style markers. ``/health`` answering JSON ``{"version": ...}`` is what the
templates do; any other 200 body counts as healthy too. Given the version just deployed,
a process answering another version is not healthy: something else (a stale process from
an earlier run) holds the port, and the new one is not serving.
"""
from __future__ import annotations

from essay.remote.shell import q

#: A small HTTP/1.0 GET over a plain socket (``_socket``: ``socket`` imports enum and
#: selectors), shared by the programs below: ``python3`` runs one in ~20 ms, against ~70 ms
#: with urllib.request (http.client, email, ssl) -- a flip runs two on every lb, most of a
#: rollback's time there (measured, docs/performance.md). It follows up to 3 redirects, as
#: urllib did. ``version_of`` reads ``"version"`` without importing json when it can.
_GET = r'''
import _socket
class RemoteDisconnected(OSError):
    pass
def get(url, host="", timeout=2.0, hops=3):
    hostport, _, path = url.split("://", 1)[1].partition("/")
    if hostport.startswith("["):
        name, _, port = hostport[1:].partition("]:")
    else:
        name, _, port = hostport.rpartition(":")
    s, err = None, None
    for family, kind, proto, _, address in _socket.getaddrinfo(   # bytes: no idna import
            name.encode() if name.isascii() else name, int(port or 80), 0, _socket.SOCK_STREAM):
        s = _socket.socket(family, kind, proto)
        s.settimeout(timeout)
        try:
            s.connect(address)
            break
        except OSError as e:
            err, s = e, s.close()
    if s is None:
        raise err or OSError("no address for %s" % name)
    try:
        s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\nUser-Agent: essay\r\nAccept: */*\r\n\r\n"
                   % (path, host or hostport)).encode("latin-1"))
        data = b""
        while len(data) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data:
        raise RemoteDisconnected("Remote end closed connection without response")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(None, 2)
    if len(first) < 2 or not first[0].startswith("HTTP/") or not first[1].isdigit():
        raise RemoteDisconnected("not an HTTP answer: %r" % lines[0][:60])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(first[1])
    where = headers.get("location", "")
    if status in (301, 302, 303, 307, 308) and where and hops:
        if where.startswith("/"):
            where = url.split("://", 1)[0] + "://" + hostport + where
        return get(where, host, timeout, hops - 1)
    return status, headers, body
def version_of(body):
    # "version" of a JSON object, without importing json (~15 ms) when it is a plain string
    text = body.decode("utf-8", "replace")
    i = text.find('"version"')
    if i >= 0 and text.count('"version"') == 1 and text.count("{") == 1:   # a flat object
        rest = text[i + 9:].lstrip()
        if rest.startswith(":"):
            rest = rest[1:].lstrip()
            end = rest.find('"', 1)
            if rest.startswith('"') and end > 0 and "\\" not in rest[:end]:
                return rest[1:end] if text.lstrip().startswith("{") else "?"
    import json
    try:
        return str(json.loads(text).get("version", "?"))
    except Exception:
        return "?"
'''.strip()

_PROGRAM = _GET + "\n" + r'''
import sys, time
deadline = time.monotonic() + float(sys.argv[1])
want, host = sys.argv[2:4]
urls = sys.argv[4:]
last = {u: "no answer yet" for u in urls}
ok = {}
def probe(u):
    try:
        status, _, body = get(u, host)
        if 200 <= status < 300:
            got = version_of(body)
            if want and got != "?" and got != want:
                last[u] = "HTTP %s from version %s, expected %s" % (status, got, want)
            else:
                ok[u] = got
        else:
            text = " ".join(body[:400].decode("utf-8", "replace").split())  # one line
            last[u] = "HTTP %s %s" % (status, text[:100] + ("..." if len(text) > 100 else ""))
    except Exception as e:
        last[u] = "%s: %s" % (type(e).__name__, e)
while True:
    pending = [u for u in urls if u not in ok]
    if len(pending) <= 8:   # a few: one after another (no threading import)
        for u in pending:
            probe(u)
    else:                   # a fleet: 32 at a time
        import threading
    for i in range(0, len(pending) if len(pending) > 8 else 0, 32):
        batch = [threading.Thread(target=probe, args=(u,)) for u in pending[i:i + 32]]
        for t in batch:
            t.start()
        for t in batch:
            t.join()
    if not pending or len(ok) == len(set(urls)) or time.monotonic() > deadline:
        break
    time.sleep(0.25)
for u in urls:
    if u in ok:
        print("healthy   %s  version %s" % (u, ok[u]))
        print("::essay:: data healthy %s %s" % (u, ok[u]))
    else:
        print("UNHEALTHY %s  last answer: %s" % (u, last[u]))
        print("::essay:: data unhealthy %s %s" % (u, last[u]))
sys.exit(0 if len(ok) == len(set(urls)) else 3)
'''.strip()


_WATCH = _GET + "\n" + r'''
import sys, time
end = time.monotonic() + float(sys.argv[1])
host, urls = sys.argv[2], sys.argv[3:]
strikes = {}
while time.monotonic() < end:
    for u in urls:
        try:
            status = get(u, host)[0]
            why = None if 200 <= status < 300 else "HTTP %s" % status
        except Exception as e:
            why = "%s: %s" % (type(e).__name__, e)
        strikes[u] = 0 if why is None else strikes.get(u, 0) + 1
        if strikes[u] >= 3:
            print("UNHEALTHY %s: %s" % (u, why))
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


def serves(port: int, path: str, host: str, color_word: str) -> tuple[str, str]:
    """Shell text that checks, through nginx itself (``127.0.0.1:port``), that it now
    serves the colour in ``color_word`` (a shell word the builder writes) -- by the
    X-Essay-Color header the site template adds: (the function's definition, its call).
    The call fails (exit 9) only on a definite other colour. Bash alone
    (``essay/flip/serves.sh``): a rollback waits for no interpreter."""
    from pathlib import Path

    defs = (Path(__file__).parent / "flip" / "serves.sh").read_text()
    return defs, f"es_serves {int(port)} {q(path)} {q(host)} {color_word}"


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
def scan(pids):
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                if link.startswith("socket:[") and link[8:-1] in listening:
                    holders[listening[link[8:-1]][0]].add(int(pid))
        except OSError:
            pass
def descendants(root):
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in os.listdir("/proc/%d/task" % pid):
                todo += [int(c) for c in open("/proc/%d/task/%s/children" % (pid, task)).read().split()]
        except (OSError, ValueError):
            pass
    return found
# the colour's own processes first (a host's whole /proc only when one of them does not
# hold a port: then the others are searched to name the holder)
if sup:
    scan(descendants(sup))
if not sup or not all(holders.values()):
    scan(filter(str.isdigit, os.listdir("/proc")))
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
    is a shell word the builder writes, e.g. ``"$(… supervise.py CONF pid)"``); exits 3
    naming the port and who holds it otherwise -- an earlier install's processes answering
    the health check in place of ones that could not bind."""
    return " ".join([python, "-c", q(_OWNERS), supervisord_pid_word, q(color),
                     *map(q, map(str, ports))])
