"""Low-level helpers of the test rig: running commands, finding and killing processes."""
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time


class RigError(RuntimeError):
    """The rig could not be built or a rig command failed (message has stderr)."""


def run(argv, check=True, timeout=60, **kw):
    """subprocess.run with text output captured; raise RigError with stderr on failure."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise RigError(f"{argv!r} timed out after {timeout}s\nstdout: {e.stdout}\n"
                       f"stderr: {e.stderr}") from None
    if check and p.returncode:
        raise RigError(f"{argv!r} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def uid_of(user):
    """The user's uid, or None if there is no such user."""
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def live_pids(uids=(), netns_files=(), argv_mark=None):
    """Pids of live (non-zombie) processes owned by one of ``uids``, living in one of
    the network namespaces bound at ``netns_files``, or with ``argv_mark`` (bytes) in
    their command line. Never this process."""
    netns = {ino for f in netns_files if (ino := inode(f))}
    uids = set(uids)
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        proc = f"/proc/{entry.name}"
        try:
            with open(f"{proc}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue        # zombies are dead; init reaps them (after a while)
            if entry.stat().st_uid in uids or inode(f"{proc}/ns/net") in netns:
                pids.append(int(entry.name))
            elif argv_mark:
                with open(f"{proc}/cmdline", "rb") as f:
                    if argv_mark in f.read():
                        pids.append(int(entry.name))
        except (OSError, IndexError):
            pass                    # gone meanwhile
    return pids


def kill_all(timeout=5, **match):
    """SIGKILL every process ``live_pids(**match)`` finds until none is left; return
    the pids still alive after ``timeout`` seconds (normally none)."""
    deadline = time.monotonic() + timeout
    while pids := live_pids(**match):
        if time.monotonic() > deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return []


def wait_banner(address, port=22, timeout=10):
    """Wait until an SSH server at address:port sends its banner; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


class Listener:
    """A TCP port that accepts and counts connections (and closes them)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()


def uv_on_hosts():
    """uv where the rig's host users find it (their PATH has /usr/local/bin)."""
    if not shutil.which("uv", path="/usr/bin:/bin:/usr/local/bin"):
        import uv
        shutil.copy(uv.find_uv_bin(), "/usr/local/bin/uv")
