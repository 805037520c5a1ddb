# A small HTTP/1.0 GET over a plain socket, for the programs essay runs on hosts (see
# essay/health/__init__.py). Definitions only: the programs put their own code after it.
import _socket
class RemoteDisconnected(OSError):
    pass
def get(url, host="", timeout=2.0, hops=3):
    hostport, _, path = url.split("://", 1)[1].partition("/")
    if hostport.startswith("["):
        name, _, port = hostport[1:].partition("]:")
    else:
        name, _, port = hostport.rpartition(":")
    s, err = None, None
    for family, kind, proto, _, address in _socket.getaddrinfo(   # bytes: no idna import
            name.encode() if name.isascii() else name, int(port or 80), 0, _socket.SOCK_STREAM):
        s = _socket.socket(family, kind, proto)
        s.settimeout(timeout)
        try:
            s.connect(address)
            break
        except OSError as e:
            err, s = e, s.close()
    if s is None:
        raise err or OSError("no address for %s" % name)
    try:
        s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\nUser-Agent: essay\r\nAccept: */*\r\n\r\n"
                   % (path, host or hostport)).encode("latin-1"))
        data = b""
        while len(data) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data:
        raise RemoteDisconnected("Remote end closed connection without response")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(None, 2)
    if len(first) < 2 or not first[0].startswith("HTTP/") or not first[1].isdigit():
        raise RemoteDisconnected("not an HTTP answer: %r" % lines[0][:60])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(first[1])
    where = headers.get("location", "")
    if status in (301, 302, 303, 307, 308) and where and hops:
        if where.startswith("/"):
            where = url.split("://", 1)[0] + "://" + hostport + where
        return get(where, host, timeout, hops - 1)
    return status, headers, body
def version_of(body):
    # "version" of a JSON object, without importing json (~15 ms) when it is a plain string
    text = body.decode("utf-8", "replace")
    i = text.find('"version"')
    if i >= 0 and text.count('"version"') == 1 and text.count("{") == 1:   # a flat object
        rest = text[i + 9:].lstrip()
        if rest.startswith(":"):
            rest = rest[1:].lstrip()
            end = rest.find('"', 1)
            if rest.startswith('"') and end > 0 and "\\" not in rest[:end]:
                return rest[1:end] if text.lstrip().startswith("{") else "?"
    import json
    try:
        return str(json.loads(text).get("version", "?"))
    except Exception:
        return "?"
