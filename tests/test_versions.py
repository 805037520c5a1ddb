"""Version logic: the calendar scheme, labels, choosing a build's version, reading an
index's file list. Pure functions, fast; the one network test talks to a real HTTP server
on 127.0.0.1 started here."""
import datetime as dt
import http.server
import threading

import pytest
from packaging.version import Version

from essay import versions
from essay.errors import EssayError, UsageError
from essay.versions import calendar_next, check_label, choose, versions_in

DAY = dt.date(2026, 3, 7)


# --- calendar_next ---------------------------------------------------------------------

@pytest.mark.parametrize("existing, expected", [
    ([], "2026.3.7.1"),                                        # first build of the day
    (["2026.3.7.1"], "2026.3.7.2"),
    (["2026.3.7.1", "2026.3.7.2"], "2026.3.7.3"),
    (["2026.3.7.2", "2026.3.7.1"], "2026.3.7.3"),              # order does not matter
    (["2026.3.7.1", "2026.3.7.9"], "2026.3.7.10"),             # a gap: highest + 1, not fill
    (["2026.3.7.9", "2026.3.7.10"], "2026.3.7.11"),            # numeric, not string order
    (["2026.3.6.5", "2026.3.8.1", "2025.3.7.4"], "2026.3.7.1"),  # other days do not count
    (["2026.3.7.3+fixbug"], "2026.3.7.4"),                     # a labelled build takes its N
    (["2026.3.7.2.post1"], "2026.3.7.3"),                      # so does a post-release
    (["2026.3.7.2rc1"], "2026.3.7.3"),
    (["2026.3.7", "2026.3.7.1.5", "1.0", "2026.3.7.0"], "2026.3.7.1"),  # not YYYY.M.D.N
    (["2026.03.07.4"], "2026.3.7.5"),                          # zero-padded on the index
])
def test_calendar_next(existing, expected):
    assert calendar_next(existing, DAY) == expected


def test_calendar_next_takes_version_objects_and_has_no_zero_padding():
    assert calendar_next([Version("2026.1.2.1")], dt.date(2026, 1, 2)) == "2026.1.2.2"
    assert calendar_next([], dt.date(2026, 12, 31)) == "2026.12.31.1"


def test_calendar_next_defaults_to_today():
    today = dt.date.today()
    assert calendar_next([]) == f"{today.year}.{today.month}.{today.day}.1"


# --- check_label ------------------------------------------------------------------------

@pytest.mark.parametrize("label, normal", [
    ("fixbug", "fixbug"), ("FixBug", "fixbug"), ("hotfix-2", "hotfix.2"),
    ("hot_fix", "hot.fix"), ("a.b.c", "a.b.c"), ("  fixbug ", "fixbug"), ("7", "7"),
])
def test_check_label_normalises(label, normal):
    assert check_label(label) == normal


@pytest.mark.parametrize("label", [
    "", " ", "fix bug", "fix+bug", "-fix", "fix-", "fix..bug", "fix--bug", "fix/bug",
    "fixbüg", "fix\nbug", None, 3,
])
def test_check_label_refuses(label):
    with pytest.raises(UsageError) as e:
        check_label(label)
    assert "label" in str(e.value) and "fixbug" in str(e.value)


# --- choose -------------------------------------------------------------------------------

def test_choose_default_is_calendar():
    assert choose(["2026.3.7.1"], today=DAY) == "2026.3.7.2"


def test_choose_with_label_is_a_local_version_sorting_after_its_base():
    v = choose(["2026.3.7.1", "2026.3.7.2"], label="fixbug", today=DAY)
    assert v == "2026.3.7.3+fixbug"
    assert Version("2026.3.7.3") < Version(v) < Version("2026.3.7.4")
    assert choose([], label="Hotfix-2", today=DAY) == "2026.3.7.1+hotfix.2"


@pytest.mark.parametrize("given, normal", [
    ("1.4.0", "1.4.0"), ("2.0rc1", "2.0rc1"), ("2026.03.07.01", "2026.3.7.1"),
    ("v1.0", "1.0"), ("1.0-post1", "1.0.post1"), ("2026.3.7.3+FixBug", "2026.3.7.3+fixbug"),
    ("1!2.0", "1!2.0"),
])
def test_choose_explicit_version_is_normalised(given, normal):
    assert choose(["2026.3.7.1"], version=given, today=DAY) == normal


def test_choose_explicit_version_with_label():
    assert choose([], version="1.4.0", label="fixbug") == "1.4.0+fixbug"


@pytest.mark.parametrize("bad", ["", "latest", "1.0-foo-bar", "1.0 ", "2026.3.7.1-fixbug",
                                 "1..0", "abc", "1.0+", "1.0+fix bug"])
def test_choose_refuses_non_pep440(bad):
    # "1.0 " is PEP 440 (surrounding whitespace is allowed) -- but it normalises
    if bad == "1.0 ":
        assert choose([], version=bad) == "1.0"
        return
    with pytest.raises(UsageError, match="PEP 440"):
        choose([], version=bad)


def test_choose_refuses_two_labels_and_an_empty_one():
    with pytest.raises(UsageError, match="already has a label"):
        choose([], version="1.0+a", label="b")
    with pytest.raises(UsageError, match="label"):
        choose([], label="", today=DAY)


# --- versions_in and the index's listing ------------------------------------------------

def test_versions_in_sorts_and_deduplicates_wheels_and_sdists():
    files = ["demo-2026.3.7.2-py3-none-any.whl", "demo-2026.3.7.2.tar.gz",
             "demo-2026.3.7.10.tar.gz", "demo-2026.3.7.3+fixbug-py3-none-any.whl",
             "demo-2026.3.7.3+fixbug.tar.gz", "demo-2026.3.7.3.tar.gz"]
    assert [str(v) for v in versions_in(files, "demo")] == [
        "2026.3.7.2", "2026.3.7.3", "2026.3.7.3+fixbug", "2026.3.7.10"]


def test_versions_in_matches_canonical_names_and_ignores_others():
    files = ["my_app-1.0.tar.gz", "My.App-1.1-py3-none-any.whl", "my-app-1.2.zip",
             "my-application-9.0.tar.gz", "other-5.0-py3-none-any.whl",
             "my_app-2.0.tar.gz.asc", "my_app-3.0.egg", "my_app-notaversion.tar.gz",
             "README", "", "my_app-1.3-1-py3-none-any.whl"]
    assert [str(v) for v in versions_in(files, "My-App")] == ["1.0", "1.1", "1.2", "1.3"]


def test_links_parser_takes_file_names_from_hrefs():
    p = versions._Links()
    p.feed('<a href="/packages/demo-1.0.tar.gz#sha256=ab">x</a>'
           '<a href="../../packages/demo-1.0%2Bfixbug-py3-none-any.whl#sha256=cd">y</a>'
           '<a href="https://files.example/demo-2.0.tar.gz">z</a><a>no href</a>'
           '<p>not a link</p>')
    assert p.files == ["demo-1.0.tar.gz", "demo-1.0+fixbug-py3-none-any.whl",
                       "demo-2.0.tar.gz", ""]
    assert [str(v) for v in versions_in(p.files, "demo")] == ["1.0", "1.0+fixbug", "2.0"]


class _Index(http.server.BaseHTTPRequestHandler):
    """A tiny real simple index: /simple/demo/ lists two files; records each request's
    Authorization header."""
    seen: list = []

    def do_GET(self):  # noqa: N802
        type(self).seen.append(self.headers.get("Authorization"))
        if self.path.rstrip("/") != "/simple/demo":
            self.send_error(404)
            return
        body = (b'<a href="/p/demo-1.0.tar.gz">a</a>'
                b'<a href="/p/demo-1.1%2Bfixbug-py3-none-any.whl">b</a>')
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tiny_index():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Index.seen = []
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_on_index_reads_a_real_listing(tiny_index):
    url = f"http://127.0.0.1:{tiny_index}/simple/"
    assert [str(v) for v in versions.on_index(url, "demo")] == ["1.0", "1.1+fixbug"]
    assert versions.on_index(url, "other") == []            # 404: no versions yet
    assert versions.resolve(url, "demo", "latest") == "1.1+fixbug"
    assert versions.resolve(url, "demo", "1.0.0") == "1.0"
    with pytest.raises(EssayError, match="not on the index.*latest is 1.1"):
        versions.resolve(url, "demo", "2.0")


def test_index_url_credentials_are_sent_as_basic_auth_and_never_shown(tiny_index):
    url = f"http://reader:s3cret@127.0.0.1:{tiny_index}/simple/"
    assert versions.on_index(url, "demo")
    assert _Index.seen[-1] == "Basic cmVhZGVyOnMzY3JldA=="   # reader:s3cret
    with pytest.raises(EssayError) as e:
        versions.resolve(url, "demo", "9.9")
    assert "s3cret" not in str(e.value) and "reader:***@" in str(e.value)


def test_unreachable_index_names_the_url_without_the_password():
    import socket

    with socket.socket() as s:          # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EssayError) as e:
        versions.on_index(f"http://u:pw@127.0.0.1:{port}/simple/", "demo")
    msg = str(e.value)
    assert f"http://u:***@127.0.0.1:{port}/simple/demo/" in msg and "unreachable" in msg
    assert ":pw@" not in msg
