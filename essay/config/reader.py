"""Typed reads of one essay.toml table: every error names the file, the key, what was
found and what was expected."""
from __future__ import annotations

import math
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from essay.errors import EssayError


class ConfigError(EssayError):
    """essay.toml is missing or holds a value essay cannot use."""


class Reader:
    """Reads typed keys out of one table, naming file and key in every error."""

    def __init__(self, path, data: dict, table: str, known: set[str]):
        self.path, self.table = path, table
        self.data = data.get(table, {})
        if not isinstance(self.data, dict):
            self.fail(table, self.data, "a table")
        for key in self.data:
            if key not in known:
                raise ConfigError(f"{path}: unknown key [{table}] {key}; "
                                  f"known keys: {', '.join(sorted(known))}")

    def fail(self, key, found, expected):
        where = f"[{self.table}] {key}" if key != self.table else f"[{self.table}]"
        if isinstance(found, str) and "@" in found and "://" in found:
            found = redact_url(found)   # the found value may be a URL with a password
        raise ConfigError(f"{self.path}: {where} is {found!r}, expected {expected}")

    def positive(self, key, default, expected="seconds, a finite number > 0", zero_ok=False):
        value = self.get(key, float, default, expected)
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            self.fail(key, value, expected)
        return value

    def get(self, key, typ, default, expected=None):
        value = self.data.get(key, default)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            self.fail(key, value, expected or typ.__name__)
        return value

    def strings(self, key, default):
        value = self.data.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, value, "a list of strings")
        return list(value)


def upload_url_for(index_url: str) -> str:
    """The upload URL of a pypiserver-style index: its simple URL without ``simple/``."""
    parts = urlsplit(index_url)
    path = re.sub(r"simple/?$", "", parts.path) or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def check_url(reader: Reader, key: str, url: str, example: str):
    """An http(s) URL with a host and, if any, a valid port."""
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError:
        reader.fail(key, url, f"an http(s) URL with a port from 1 to 65535, such as {example}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail(key, url, f"an http(s) URL such as {example}")


_REMOTE_PATH = re.compile(r"(/|~/)[A-Za-z0-9._~/@+-]*")


def check_remote_path(reader: Reader, key: str, value: str, example: str) -> str:
    """A path on the hosts: absolute, or under the remote user's home (``~/...``); only
    letters, digits and ``._~/@+-`` (it reaches shells and the nginx site), not ``/``."""
    if not _REMOTE_PATH.fullmatch(value) or value.strip("/") == "":
        reader.fail(key, value, 'an absolute path or one starting with "~/", without spaces, '
                    f'of letters, digits and ._~/@+- only, such as "{example}"')
    return value


_SERVER_NAME = re.compile(r"[^\s;{}\"'#\\$]+( [^\s;{}\"'#\\$]+)*")
_HTTP_PATH = re.compile(r"/[A-Za-z0-9._~!&()*+,=:@%/?-]*")


def check_server_name(reader: Reader, value: str) -> str:
    """nginx server_name: names separated by single spaces; nothing nginx would parse."""
    if not _SERVER_NAME.fullmatch(value):
        reader.fail("server_name", value, 'nginx server names separated by spaces, without '
                    "';', quotes, braces, '#', '$' or line breaks, such as \"example.com\"")
    return value


def check_http_path(reader: Reader, key: str, value: str) -> str:
    if not _HTTP_PATH.fullmatch(value):
        reader.fail(key, value, 'a URL path starting with "/", of letters, digits and '
                    "-._~!&()*+,=:@%/? only (no ';', '$', quotes or spaces), such as \"/health\"")
    return value


def check_version_file(reader: Reader, value: str):
    """A .py file inside the project: relative, no ``..`` (it is written in the build tree)."""
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or "\\" in value or p.suffix != ".py":
        reader.fail("version_file", value, "a .py module path relative to the project, "
                    'inside it, such as "demo/_release.py"')
    return value


def table_keys(data: dict, table: str) -> set:
    value = data.get(table, {})
    return set(value) if isinstance(value, dict) else set()


def redact_url(url: str) -> str:
    """``url`` with the password of its user info (if any) replaced by ``***``; the host
    and port are kept exactly as written (IPv6 brackets too)."""
    try:
        parts = urlsplit(url)
    except ValueError:   # not a URL urllib can split: redact whatever looks like one
        from essay.output import redact
        return redact(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


