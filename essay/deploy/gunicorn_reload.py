"""Reloading a gunicorn master instead of restarting it (SIGHUP: new workers import the
app anew, the master and its listening socket stay): when that is safe, and waiting until
it is done. Standard library only; not a module of its own on the host: essay/deploy/
commands.py puts this text in front of supervise.py's, one program (``restart
--reload-app NAME`` there; docs/deploy.md, "Reload instead of restart")."""
import os
import re
import sys
import time


def installed_since(when, own):
    """Distributions but ``own`` whose dist-info directory in this Python's site-packages
    is newer than ``when`` (epoch s). Run with ``-S``, Python has not read pyvenv.cfg:
    the venv is found beside sys.executable, its paths asked of sysconfig."""
    import sysconfig

    prefix = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
    if not os.path.isfile(os.path.join(prefix, "pyvenv.cfg")):
        prefix = sys.prefix
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
    paths = sysconfig.get_paths(scheme, vars={"base": prefix, "platbase": prefix})
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731  (PEP 503)
    found = set()
    for site in {paths["purelib"], paths["platlib"]}:
        for e in (os.scandir(site) if os.path.isdir(site) else ()):
            name = e.name[:-len(".dist-info")].rsplit("-", 1)[0]
            if e.name.endswith(".dist-info") and e.stat().st_mtime > when and \
                    norm(name) != norm(own):
                found.add(name)
    return sorted(found)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def reloadable(pid, start, own, colour):
    """Why the running program ``pid`` (started at ``start``, epoch s) needs a cold restart,
    or None if a SIGHUP will do: a gunicorn master that read essay's {colour}/gunicorn.conf.py
    (its post_fork hook gives new workers the colour's environment as it is now), with no
    secret removed and nothing it may have imported (any distribution but ``own``)
    installed since it started."""
    argv = read("/proc/%d/cmdline" % pid).split(b"\0")
    hook = os.path.join(colour, "gunicorn.conf.py")
    if not any(os.path.basename(a) == b"gunicorn" for a in argv[:2]):
        return "not gunicorn"
    if any(a.split(b"=")[0] in (b"--config", b"--preload") or
           (a.startswith(b"-c") and not a.startswith(b"--")) for a in argv) or \
            b"\0GUNICORN_CMD_ARGS=" in b"\0" + read("/proc/%d/environ" % pid):
        return "its own -c, --preload or GUNICORN_CMD_ARGS"
    if os.path.realpath("/proc/%d/cwd" % pid) != os.path.realpath(colour) or \
            not os.path.isfile(hook) or os.stat(hook).st_mtime > start:
        return "started without essay's gunicorn.conf.py"
    secrets = os.path.join(os.path.dirname(colour), "secrets.env")
    if os.path.exists(secrets) and os.stat(secrets).st_mtime > start:
        return "the secrets changed since it started"
    newer = installed_since(start, own)
    return ("installed since it started: " + ", ".join(newer[:3]) +
            (", ..." if len(newer) > 3 else "")) if newer else None


def children(pid):
    """The pids of ``pid``'s children (a gunicorn master's: its workers)."""
    found = set()
    for task in (os.listdir("/proc/%d/task" % pid) if os.path.isdir("/proc/%d" % pid) else ()):
        found.update(read("/proc/%d/task/%s/children" % (pid, task)).split())
    return found


def reloaded(hup, deadline):
    """Wait until every SIGHUP'd master has none of its old workers left (they answer
    with the old code until they exit) and has new ones. False if one has not by
    ``deadline``. A master that exited (its new workers could not boot, say) is left to
    supervisord and the health gate, and said so -- when it exits before its old workers
    do; if not, "reloaded" is printed and the health gate fails it all the same."""
    ok = True
    for name, (pid, old) in sorted(hup.items()):
        while os.path.isdir("/proc/%d" % pid) and time.monotonic() < deadline:
            now = children(pid)
            if now and not now & old:
                break
            time.sleep(0.05)
        if not os.path.isdir("/proc/%d" % pid):
            print("%s: its master exited after SIGHUP (see its log; supervisord restarts "
                  "it, the health gate decides)" % name)
        elif children(pid) & old:
            ok = False
            print("%s: ERROR (reload: old workers still running)" % name)
        else:
            print("%s: reloaded (SIGHUP: new workers, the same master)" % name)
    return ok
