"""A command on a real pseudo-terminal (python's pty), and a value typed into it: how a
person answers a prompt that must not echo (``es secrets set KEY``)."""
import os
import pty
import time


def read_until(fd, want: bytes, deadline: float) -> bytes:
    """The terminal's output until ``want`` appears, EOF, or the deadline."""
    out = b""
    while want not in out and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:   # EIO: the other side closed (the process ended)
            break
        if not chunk:
            break
        out += chunk
    return out


def typing(argv, cwd, env, prompt: bytes, typed: str, timeout: float = 300):
    """Run ``argv`` with a new pty as its controlling terminal; when ``prompt`` appears,
    type ``typed`` and Enter. Returns (exit code, everything the terminal showed); the
    exit code is None if the prompt never came."""
    pid, fd = pty.fork()
    if pid == 0:   # the child
        try:
            os.chdir(cwd)
            os.execve(argv[0], list(argv), env)
        finally:
            os._exit(127)
    deadline = time.monotonic() + timeout
    prompted = False
    try:
        out = read_until(fd, prompt, deadline)
        if prompt in out:
            prompted = True
            os.write(fd, typed.encode() + b"\r")
            out += read_until(fd, b"\0never", deadline)
    finally:
        os.close(fd)
        if not prompted:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    return (os.waitstatus_to_exitcode(status) if prompted else None,
            out.decode(errors="replace"))
