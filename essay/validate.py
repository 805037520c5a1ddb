"""Validation of names, colours, hosts, versions and messages -- before anything runs.

Everything a user types that ends up in a remote command is checked here first. The
command builders quote every value anyway (:func:`essay.remote.shell.q`); validation is
what turns a typo into a clear message instead of a strange remote failure.
"""
from __future__ import annotations

import keyword
import re

from essay.errors import UsageError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_COLOR = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])"
                   r"(?::(?P<port>\d{1,5}))?$")
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    """A project name usable as a distribution name and, with ``-`` -> ``_``, a package."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a valid project name: use letters, digits, '-' "
                         "and '_', starting with a letter (e.g. 'demo' or 'my-app')")
    if keyword.iskeyword(name.replace("-", "_")):
        raise UsageError(f"{name!r} is a Python keyword and cannot be a package name; "
                         "pick another, e.g. 'my-app'")
    return name


def check_color(color: str, known=None) -> str:
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise UsageError(f"{color!r} is not a valid colour: use a short lowercase name "
                         "such as 'a' or 'blue'")
    if known is not None and color not in known:
        raise UsageError(f"unknown colour {color!r}: essay.toml [colors] defines "
                         f"{', '.join(known)}")
    return color


def check_host(host: str) -> str:
    """A Fabric host string (``[user@]host[:port]``), an ssh_config alias, or ``local``."""
    m = _HOST.fullmatch(host) if isinstance(host, str) else None
    if not m or host.startswith("-"):
        raise UsageError(f"{host!r} is not a valid host: use host, user@host, "
                         "user@host:port or an alias from ~/.ssh/config")
    port = m.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise UsageError(f"{host!r} is not a valid host: port {port} is not from 1 to 65535")
    return host


def check_version(version: str) -> str:
    """A PEP 440 version, normalised (``latest`` is resolved by the caller first)."""
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except (InvalidVersion, TypeError):
        raise UsageError(f"{version!r} is not a PEP 440 version; examples: 2026.11.24.1, "
                         "1.4.0, 2.0rc1, 2026.11.24.3+fixbug") from None


def check_profile(profile: str) -> str:
    if not _PROFILE.fullmatch(profile or ""):
        raise UsageError(f"{profile!r} is not a valid profile name: letters, digits, '.', "
                         "'_' and '-'")
    return profile


def check_weight(weight: int) -> int:
    if not isinstance(weight, int) or not 1 <= weight <= 99:
        raise UsageError(f"weight {weight!r} is out of range: give a percentage from 1 to 99")
    return weight


def check_message(message: str) -> str:
    """Free text (lock messages): any printable text, one line, at most 200 characters.
    Control characters and line/paragraph separators (U+2028, U+2029) are refused: a
    line break or tab would break the lb's line-based files, an escape sequence would
    reach other people's terminals via ``es history``."""
    import unicodedata

    bad = [ch for ch in message if unicodedata.category(ch) in ("Cc", "Zl", "Zp")]
    if len(message) > 200 or bad:
        found = f"found {ascii(bad[0])}" if bad else f"found {len(message)} characters"
        raise UsageError(f"--message must be one line of at most 200 characters, without "
                         f"control characters or line separators ({found})")
    return message
