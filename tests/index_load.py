"""Many clients at once against an index, from one process: ``CLIENT`` is a Python
script (stdlib only, so a rig host's python3 runs it) for ``python3 -c CLIENT HOST
PORT DIRECT_PORT SIMPLE_PATH N ROUNDS``. N threads start together (a barrier); each, ROUNDS
times, GETs the simple page on PORT, the last wheel it links to on PORT, and the simple
page on DIRECT_PORT (pypiserver itself, when PORT is nginx). It prints JSON: ``ok``,
``failed`` (one line each), ``slowest``, ``p50`` and ``p99`` of the request times and ``elapsed`` (s). Every request has a 30 s
timeout; a thread that has not finished in 90 s is left (and its requests not counted
as ok). Used by tests/test_index_nginx.py and bench/index.py."""

CLIENT = r"""
import http.client, json, re, sys, threading, time
host, nginx, direct, simple, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
start, lock, out = threading.Barrier(n), threading.Lock(), {"ok": 0, "failed": []}
times = []

def get(port, path):
    t = time.monotonic()
    c = http.client.HTTPConnection(host, port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        return r.status, body, time.monotonic() - t
    finally:
        c.close()

def client():
    start.wait(30)
    for _ in range(rounds):
        for port, path in ((nginx, simple), (nginx, None), (direct, simple)):
            try:
                if path is None:   # the wheel the simple page links to
                    path = "/packages/" + wheel
                status, body, took = get(port, path)
                if path == simple and status == 200:
                    globals()["wheel"] = re.findall(r'"/packages/([^"#]+\.whl)',
                                                    body.decode())[-1]
                with lock:
                    times.append(took)
                    if status == 200:
                        out["ok"] += 1
                    else:
                        out["failed"].append(f"{port}{path}: {status}")
            except Exception as e:
                with lock:
                    out["failed"].append(f"{port}{path}: {e!r}")

t0 = time.monotonic()
threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join(90)
out["elapsed"] = time.monotonic() - t0
times.sort()
out.update(slowest=times[-1] if times else None, p50=times[len(times) // 2] if times else None,
           p99=times[int(len(times) * 0.99)] if times else None)
print(json.dumps(out))
"""
