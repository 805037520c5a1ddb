"""Health checks, run on the hosts: every process of a colour must answer 200.

The check is a small Python program (hosts have python3: it makes the virtualenvs)
given on the command line, quoted -- this package's get.py, check.py, owners.py and
watch.py, put together by :func:`program`; it polls every URL (one after another, or 32 at a
time for a fleet) until all answer 200 or the deadline passes -- each URL is asked at
least once whatever the deadline -- prints one line per URL, and reports each answering version with
``essay_data``-style markers. ``/health`` answering JSON ``{"version": ...}`` is what the
templates do; any other 200 body counts as healthy too. Given the version just deployed,
a process answering another version is not healthy: something else (a stale process from
an earlier run) holds the port, and the new one is not serving.
"""
from __future__ import annotations

from pathlib import Path

from essay.remote.shell import q, qpath

_HERE = Path(__file__).parent


def program(*parts: str, main: str) -> str:
    """The text of a host program: the resources ``parts`` (this package's ``*.py``:
    definitions), then ``main``."""
    return "\n".join([*((_HERE / p).read_text() for p in parts), main])


#: The GET they share (get.py) is a small HTTP/1.0 GET over a plain socket (``_socket``:
#: ``socket`` imports enum and selectors): ``python3`` runs one in ~20 ms, against ~70 ms
#: with urllib.request (http.client, email, ssl) -- a flip runs two on every lb, most of a
#: rollback's time there (measured, docs/performance.md). It follows up to 3 redirects, as
#: urllib did. ``version_of`` reads ``"version"`` without importing json when it can.
_PROGRAM = program("get.py", "check.py", main="import sys\nsys.exit(0 if check(float("
                   "sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]) else 3)")
_WATCH = program("get.py", "watch.py", main="")
#: The deploy's health step, one process: the check, then who holds the ports (printed
#: under a heading when the check failed). argv: deadline version host path conf colour port...
_DEPLOYED = program("get.py", "check.py", "owners.py", main="""import sys
deadline, want, host, path, conf, color = sys.argv[1:7]
ports = [int(p) for p in sys.argv[7:]]
ok = check(float(deadline), want, host, ["http://127.0.0.1:%d%s" % (p, path) for p in ports])
if not ok:
    print("--- who holds the ports")
ok = owners(supervisord_of(conf), color, ports) and ok
sys.exit(0 if ok else 3)""")


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
    defs = (_HERE.parent / "flip" / "serves.sh").read_text()
    return defs, f"es_serves {int(port)} {q(path)} {q(host)} {color_word}"


def parse(values: list[str]) -> dict[str, str]:
    """``url version`` data lines -> {url: version}."""
    out = {}
    for v in values:
        url, _, rest = v.partition(" ")
        out[url] = rest
    return out


def deployed(cfg, color: str, deadline: float, version: str) -> str:
    """Shell text for the deploy's health step, one process: :func:`local`'s check, then
    owners.py's with the colour's supervisord found by its configuration file (its
    pidfile, or /proc) -- not asked over XML-RPC, which costs another interpreter and
    ~55 ms of imports on every host (measured)."""
    d = qpath(cfg.color_dir(color))
    return " ".join([f"{d}/bin/python", "-I", "-S", "-c", q(_DEPLOYED), q(f"{deadline:g}"),
                     q(version), q(cfg.health_host), q(cfg.health_path),
                     f"{d}/etc/supervisord.conf", q(color),
                     *(q(str(p)) for p in cfg.ports[color])])
