"""Versions: the calendar scheme, labels, and what the index already holds.

The default version is ``YYYY.M.D.N``: today's date and N, one more than the highest N
of today already on the index (the first build of the day is ``.1``). ``--label fixbug``
makes ``YYYY.M.D.N+fixbug``: a PEP 440 *local version*, which sorts just after the
unlabelled version of the same N and can be installed by its exact name. ``--version``
takes any PEP 440 version. (essay 0.0.8 made ``3.11.20.1-fixbug``, not PEP 440.)
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import re
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name,
                             parse_sdist_filename, parse_wheel_filename)
from packaging.version import InvalidVersion, Version

from essay.config import redact_url
from essay.errors import EssayError, UsageError
from essay.validate import check_version

_LABEL = re.compile(r"^[a-z0-9]+(?:\.[a-z0-9]+)*$")


def check_label(label: str) -> str:
    """A label normalised as PEP 440 normalises a local version (``Hotfix-2`` ->
    ``hotfix.2``); anything else (empty, spaces, ``+``, ...) is refused."""
    if not isinstance(label, str):
        raise UsageError(f"label {label!r} is not valid: give text such as fixbug")
    norm = label.strip().lower().replace("-", ".").replace("_", ".")
    if not _LABEL.fullmatch(norm):
        raise UsageError(f"label {label!r} is not valid: use letters and digits, optionally "
                         "separated by '.', '-' or '_' (e.g. fixbug, hotfix-2)")
    return norm


def calendar_next(existing, today: _dt.date | None = None) -> str:
    """``YYYY.M.D.N`` with N one more than the highest N of ``today`` in ``existing``."""
    today = today or _dt.date.today()
    prefix = (today.year, today.month, today.day)
    highest = 0
    for v in existing:
        rel = Version(str(v)).release
        if len(rel) == 4 and rel[:3] == prefix:
            highest = max(highest, rel[3])
    return f"{today.year}.{today.month}.{today.day}.{highest + 1}"


def choose(existing, version: str | None = None, label: str | None = None,
           today: _dt.date | None = None) -> str:
    """The version a build gets: ``version`` as given (validated) or the next calendar one,
    with ``+label`` appended when a label is given."""
    base = check_version(version) if version is not None else calendar_next(existing, today)
    if label is not None:
        if Version(base).local:
            raise UsageError(f"{base} already has a label (+{Version(base).local}); "
                             "give --version or --label, not both with a label")
        base = f"{base}+{check_label(label)}"
    return str(Version(base))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.files: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href") or ""
            # indexes may percent-encode the name (a local version's "+" as %2B)
            self.files.append(unquote(href.split("#")[0].rstrip("/").rsplit("/", 1)[-1]))


def index_files(index_url: str, name: str, timeout: float = 10) -> list[str]:
    """File names the simple index lists for ``name`` (PEP 691 JSON, or PEP 503 HTML)."""
    url = f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"
    headers = {"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}
    parts = urlsplit(url)
    if parts.username is not None:   # user info in the URL, as pip takes it: basic auth
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    shown = redact_url(f"{index_url.rstrip('/')}/{canonicalize_name(name)}/")
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read().decode("utf-8", "replace")
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return []
        raise EssayError(f"the index at {shown} answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EssayError(f"the index at {shown} is unreachable ({reason}); is it running? "
                         "(`es pypi serve` runs the embedded one)") from None
    if "json" in ctype:
        return [f["filename"] for f in json.loads(body).get("files", [])]
    parser = _Links()
    parser.feed(body)
    return parser.files


def versions_in(files, name: str) -> list[Version]:
    """The versions of ``name`` among distribution file names, sorted, no duplicates."""
    want = canonicalize_name(name)
    found = set()
    for f in files:
        try:
            if f.endswith(".whl"):
                n, v, *_ = parse_wheel_filename(f)
            else:
                n, v = parse_sdist_filename(f)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if n == want:
            found.add(v)
    return sorted(found)


def on_index(index_url: str, name: str) -> list[Version]:
    return versions_in(index_files(index_url, name), name)


def resolve(index_url: str, name: str, version: str) -> str:
    """``latest`` -> the highest version on the index; anything else must be PEP 440 and
    on the index."""
    have = on_index(index_url, name)
    if version == "latest":
        if not have:
            raise EssayError(f"no version of {name} is on the index {redact_url(index_url)}; "
                             "run `es build` first")
        return str(have[-1])
    v = check_version(version)
    same = [h for h in have if h == Version(v)]
    if not same:
        latest = f"; the latest is {have[-1]}" if have else "; it has none yet (run `es build`)"
        raise EssayError(f"{name} {v} is not on the index {redact_url(index_url)}{latest}")
    return str(same[-1])   # as the index spells it: 1.0.0 asked, 1.0 built -> 1.0


def cli_versions(ctx, latest: bool = False, next_: bool = False) -> int:
    """``es versions``: the project's versions on the index, oldest first."""
    cfg = ctx.cfg
    have = on_index(cfg.index_url, cfg.name)
    if next_:
        ctx.reporter.print(calendar_next(have))
    elif latest:
        if not have:
            raise EssayError(f"no version of {cfg.name} on {redact_url(cfg.index_url)} yet; "
                             "run `es build`")
        ctx.reporter.print(str(have[-1]))
    else:
        for v in have:
            ctx.reporter.print(str(v))
    return 0
