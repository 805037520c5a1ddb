"""Load through the lb while something happens: wrk, counted from its own summary (used by
tests and bench/)."""
import re
import signal
import subprocess
import tempfile

CONNECTIONS = 16


class Load:
    """wrk with 16 keep-alive connections against the lb, until stopped: flat out, or
    about ``rate`` requests a second (each connection waits 16/rate s between its
    requests: wrk's ``delay()``)."""

    def __init__(self, url, seconds=600, rate=None):
        extra = []
        if rate:
            self.lua = tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="essay-wrk-")
            self.lua.write(f"function delay() return {CONNECTIONS * 1000 / rate:.0f} end\n")
            self.lua.flush()
            extra = ["-s", self.lua.name]
        self.proc = subprocess.Popen(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s",
                                      "--timeout", "5s", *extra, url],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
        out = self.proc.communicate(timeout=30)[0]
        total = int(re.search(r"(\d+) requests in", out).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                         out)
        return {"requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0,
                "socket_errors": sum(map(int, sock.groups())) if sock else 0, "output": out}
