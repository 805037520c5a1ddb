# watch(): fail (exit 3) as soon as a URL fails 3 checks in a row within the seconds given;
# argv: seconds host url... Needs get.py's get.
import sys, time
end = time.monotonic() + float(sys.argv[1])
host, urls = sys.argv[2], sys.argv[3:]
strikes = {}
while time.monotonic() < end:
    for u in urls:
        try:
            status = get(u, host)[0]  # noqa: F821 (get.py comes first)
            why = None if 200 <= status < 300 else "HTTP %s" % status
        except Exception as e:
            why = "%s: %s" % (type(e).__name__, e)
        strikes[u] = 0 if why is None else strikes.get(u, 0) + 1
        if strikes[u] >= 3:
            print("UNHEALTHY %s: %s" % (u, why))
            sys.exit(3)
    time.sleep(0.5)
print("healthy for %ss: %s" % (sys.argv[1], " ".join(urls)))
