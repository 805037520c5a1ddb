# owners(): is every port of a colour listened on by a process of the colour's own
# supervisord (a descendant of its pid, by /proc)? supervisord_of(): that pid, found from
# the supervisord.conf it runs with -- no interpreter start-up or XML-RPC call for it.
import os


def _runs(pid, conf):
    """Does process ``pid`` run supervisord with the configuration file ``conf``?"""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    if not any(os.path.basename(a).startswith("supervisord") for a in args[:2]):
        return False
    for i, a in enumerate(args):
        if a in ("-c", "--configuration") and i + 1 < len(args):
            given = args[i + 1]
        elif a.startswith("--configuration="):
            given = a.split("=", 1)[1]
        elif a.startswith("-c") and len(a) > 2:
            given = a[2:]
        else:
            continue
        if not os.path.isabs(given):
            try:
                given = os.path.join(os.readlink("/proc/%d/cwd" % pid), given)
            except OSError:
                continue
        if os.path.realpath(given) == os.path.realpath(conf):
            return True
    return False


def supervisord_of(conf):
    """The pid of the supervisord running ``conf``: the one its pidfile names (checked),
    else the one found in /proc; None if none runs."""
    section, pidfile = "", None
    try:
        with open(conf) as f:
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]").strip()
                elif section == "supervisord" and line.split("=", 1)[0].strip() == "pidfile":
                    value = line.split("=", 1)[1].split(" ;")[0].split(" #")[0].strip()
                    pidfile = value.replace("%(here)s", os.path.dirname(os.path.abspath(conf)))
    except OSError:
        return None
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        if _runs(pid, conf):
            return pid
    except (OSError, TypeError, ValueError):
        pass
    for name in os.listdir("/proc"):
        if name.isdigit() and _runs(int(name), conf):
            return int(name)
    return None


def owners(sup, color, ports):
    """One line per port; False if one is not held by a descendant of pid ``sup``."""
    listening = {}                                  # socket inode -> (port, uid)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
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
                    with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                        todo += [int(c) for c in f.read().split()]
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
            with open("/proc/%d/stat" % pid) as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
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
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            cmd = "?"
        return "pid %d (%s)" % (pid, cmd[:160])
    bad = 0
    for port in ports:
        pids = sorted(holders[port])
        uids = sorted({u for p, u in listening.values() if p == port})
        if any(ours(p) for p in pids):
            print("port %d: served by colour %s's processes (supervisord pid %s)"
                  % (port, color, sup))
            continue
        bad += 1
        if pids:
            who = ", ".join(describe(p) for p in pids[:3])
        elif uids:
            who = "a process of uid %s (another user: not visible here)" % ",".join(map(str, uids))
        else:
            who = "nobody: nothing listens there"
        print("port %d: held by %s, not by colour %s's supervisord (pid %s)"
              % (port, who, color, sup))
        print("::essay:: data foreign_port %d %s" % (port, who))
    return bad == 0
