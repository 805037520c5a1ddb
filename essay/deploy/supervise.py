"""A colour's supervisord, asked through its XML-RPC interface: the program the deploy runs
on a web host (``python -I -S -c THIS CONF MODE``), standard library only -- one process
of ~60 ms of CPU where ``supervisorctl`` (all of supervisor imported) costs ~120 ms a call.

``pid`` / ``status``
    supervisord's pid / one ``NAME=STATE`` line per program; exit 7: not running.
``start-workers`` / ``stop-workers``
    the ``worker-*`` programs, all at once, each waited for; exit 5: none configured,
    1: one did not start (named), 7: not running.
``restart [--workers] [--reload-app NAME]``
    ``supervisorctl update``, then the web programs (with ``--workers``, those too) all
    stopped, then all started, each waited for until ``RUNNING`` or failed; exit 7: not
    running (the caller starts it), 1: a program did not start (named), 2: configuration
    unreadable or credentials refused. With ``--reload-app NAME`` (the project's
    distribution) a gunicorn master is *reloaded* where ``reloadable`` allows (SIGHUP,
    then waited for until none of its old workers is left): gunicorn_reload.py, whose
    text essay/deploy/commands.py puts in front of this one's -- one program.

The server URL comes from ``[supervisorctl] serverurl`` (``unix://``, or ``http://`` with
``username``/``password``, supervisor's ``%(here)s`` and ``%(ENV_X)s`` expanded), as
supervisorctl reads it; default ``http://localhost:9001``.
"""
import configparser
import http.client
import os
import socket
import sys
import time
import xmlrpc.client

NOT_RUNNING, NO_WORKERS = 7, 5
MODES = ("pid", "status", "restart", "start-workers", "stop-workers")
STARTING, RUNNING, BACKOFF, STOPPING = 10, 20, 30, 40   # supervisor.states.ProcessStates
FAULTS_OK_TO_IGNORE = {60, 70}                            # ALREADY_STARTED, NOT_RUNNING
# reloadable, children, reloaded: from gunicorn_reload.py, whose text comes first


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout):
        super().__init__()
        self.path, self.timeout = path, timeout

    def make_connection(self, host):
        return UnixConnection(self.path, self.timeout)


def expand(value, here):
    """supervisor's expansions in a [supervisorctl] value: %(here)s, %(ENV_NAME)s."""
    names = {"here": here}
    names.update({"ENV_" + k: v for k, v in os.environ.items()})
    try:
        return value % names
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError("[supervisorctl] %r: cannot expand it (%s)" % (value, e)) from None


def server(conf, timeout=60.0):
    """An XML-RPC proxy for the supervisord that ``conf`` configures."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    if not parser.read(conf):
        raise ValueError("cannot read %s" % conf)
    here = os.path.dirname(os.path.abspath(conf))
    get = lambda key, default="": expand(  # noqa: E731
        parser.get("supervisorctl", key, fallback=default).strip(), here)
    url = get("serverurl", "http://localhost:9001")
    if url.startswith("unix://"):
        return xmlrpc.client.ServerProxy("http://localhost",
                                         UnixTransport(url[len("unix://"):], timeout))
    if not url.startswith(("http://", "https://")):
        raise ValueError("[supervisorctl] serverurl %r: neither unix:// nor http://" % url)
    user, password = get("username"), get("password")
    if user:
        scheme, rest = url.split("://", 1)
        url = "%s://%s:%s@%s" % (scheme, user, password, rest)
    return xmlrpc.client.ServerProxy(url)


def call(fn, *args):
    """An RPC whose 'already so' faults are no error (stop a stopped program...)."""
    try:
        return fn(*args)
    except xmlrpc.client.Fault as e:
        if e.faultCode not in FAULTS_OK_TO_IGNORE:
            raise


def update(rpc):
    """``supervisorctl update``: the groups the configuration added, changed, removed.
    Returns the groups added or changed: their processes are new."""
    added, changed, removed = rpc.supervisor.reloadConfig()[0]
    for group in removed:
        call(rpc.supervisor.stopProcessGroup, group)
        rpc.supervisor.removeProcessGroup(group)
        print("%s: stopped\n%s: removed process group" % (group, group))
    for group in changed:
        call(rpc.supervisor.stopProcessGroup, group)
        rpc.supervisor.removeProcessGroup(group)
        rpc.supervisor.addProcessGroup(group)
        print("%s: updated process group" % group)
    for group in added:
        rpc.supervisor.addProcessGroup(group)
        print("%s: added process group" % group)
    return set(added) | set(changed)


def full_name(info):
    return info["name"] if info["group"] == info["name"] else \
        "%s:%s" % (info["group"], info["name"])


def wait_for(rpc, names, done, deadline):
    """Poll until ``done(state)`` holds for every program of ``names`` (or ``deadline``):
    {name: its last info}."""
    while True:
        infos = {full_name(i): i for i in rpc.supervisor.getAllProcessInfo()}
        mine = {n: infos[n] for n in names if n in infos}
        if all(done(i["state"]) for i in mine.values()) or time.monotonic() > deadline:
            return mine
        time.sleep(0.05)


def names_of(rpc, web=True, workers=False):
    return [full_name(i) for i in rpc.supervisor.getAllProcessInfo()
            if (workers if i["name"].startswith("worker-") else web)]


def stop(rpc, names, timeout):
    """Stop ``names`` at once; wait until every one is down."""
    for n in names:
        call(rpc.supervisor.stopProcess, n, False)
    wait_for(rpc, names, lambda s: s not in (STOPPING, RUNNING, STARTING, BACKOFF),
             time.monotonic() + timeout)
    for n in names:
        print("%s: stopped" % n)


def restart(rpc, workers, timeout, own=None, colour=""):
    """Stop every chosen program at once, wait until they are down, start them at once,
    wait until each is RUNNING or failed (with ``own``: reload the gunicorn masters that
    can be, see the module's doc). False if one did not start."""
    fresh, cold, hup = update(rpc), [], {}
    for info in rpc.supervisor.getAllProcessInfo():
        name = full_name(info)
        if info["name"].startswith("worker-"):
            if workers:
                cold.append(name)
            continue
        why = "no --reload-app" if not own else "not running" if info["state"] != RUNNING \
            else "just (re)added" if info["group"] in fresh \
            else reloadable(info["pid"], info["start"], own, colour)
        if why is None:
            hup[name] = (info["pid"], children(info["pid"]))
            rpc.supervisor.signalProcess(name, "HUP")
        else:
            cold.append(name)
            if own:
                print("%s: a cold restart (%s)" % (name, why))
    stop(rpc, cold, timeout)
    return start(rpc, cold, timeout) & reloaded(hup, time.monotonic() + timeout)


def start(rpc, names, timeout):
    """Start ``names`` at once; wait until each is RUNNING or failed. False if one failed."""
    for n in names:
        call(rpc.supervisor.startProcess, n, False)
    infos = wait_for(rpc, names, lambda s: s != STARTING, time.monotonic() + timeout)
    ok = True
    for n in names:
        state = infos.get(n, {}).get("state")
        if state == RUNNING:
            print("%s: started" % n)
        else:
            ok = False
            print("%s: ERROR (%s)" % (n, infos.get(n, {}).get("statename", "gone")
                                      if state != BACKOFF else "spawn error"))
    return ok


def main(argv):
    if len(argv) < 2 or argv[1] not in MODES:
        print("usage: supervise CONF %s [--workers] [--reload-app NAME]" % "|".join(MODES),
              file=sys.stderr)
        return 2
    conf, mode = argv[:2]
    try:
        rpc = server(conf)
    except (ValueError, configparser.Error) as e:
        print("supervise: %s" % e)
        return 2
    try:
        pid = rpc.supervisor.getPID()
    except (OSError, http.client.HTTPException):
        return NOT_RUNNING   # no socket, refused, or not answering: not running
    except xmlrpc.client.ProtocolError as e:   # e.g. 401: [supervisorctl] username/password
        print("supervise: %s answers %s %s" % (e.url.split("@")[-1], e.errcode, e.errmsg))
        return 2
    if mode == "pid":
        print(pid)
        return 0
    # a program's stop waits for at most its stopwaitsecs, a start for startsecs (and
    # retries): supervisord itself gives up on each; this bound only keeps us finite
    timeout = 600.0
    try:
        if mode == "status":
            for i in rpc.supervisor.getAllProcessInfo():
                print("%s=%s" % (full_name(i), i["statename"]))
            return 0
        if mode in ("start-workers", "stop-workers"):
            names = names_of(rpc, web=False, workers=True)
            if not names:
                return NO_WORKERS
            if mode == "stop-workers":
                stop(rpc, names, timeout)
                return 0
            return 0 if start(rpc, names, timeout) else 1
        rest = argv[2:]
        own = rest[rest.index("--reload-app") + 1] if "--reload-app" in rest[:-1] else None
        colour = os.path.dirname(os.path.dirname(os.path.abspath(conf)))  # {colour}/etc/x
        return 0 if restart(rpc, "--workers" in rest, timeout, own, colour) else 1
    except xmlrpc.client.Fault as e:   # e.g. the rewritten configuration does not load
        print("supervisord: %s" % e.faultString)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
