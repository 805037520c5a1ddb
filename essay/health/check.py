# check(): poll URLs until each answers 200 (with the version wanted) or the deadline
# passes; one line per URL and ::essay:: data lines. Needs get.py's get and version_of.
def check(deadline, want, host, urls):
    import time
    end = time.monotonic() + deadline
    last = {u: "no answer yet" for u in urls}
    ok = {}

    def probe(u):
        try:
            status, _, body = get(u, host)  # noqa: F821 (get.py comes first)
            if 200 <= status < 300:
                got = version_of(body)  # noqa: F821
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
            for i in range(0, len(pending), 32):
                batch = [threading.Thread(target=probe, args=(u,)) for u in pending[i:i + 32]]
                for t in batch:
                    t.start()
                for t in batch:
                    t.join()
        if not pending or len(ok) == len(set(urls)) or time.monotonic() > end:
            break
        time.sleep(0.25)
    for u in urls:
        if u in ok:
            print("healthy   %s  version %s" % (u, ok[u]))
            print("::essay:: data healthy %s %s" % (u, ok[u]))
        else:
            print("UNHEALTHY %s  last answer: %s" % (u, last[u]))
            print("::essay:: data unhealthy %s %s" % (u, last[u]))
    return len(ok) == len(set(urls))
