"""The index's download credentials, from outside git.

essay.toml is committed, so a password in ``[index] url`` is a password in git. essay
takes the index's credentials from, in order:

1. ``ESSAY_INDEX_PASSWORD`` (and ``ESSAY_INDEX_USERNAME``) in the environment;
2. the ``"index"`` object of ``.essay/credentials.json`` (the file ``es pypi serve``
   keeps its upload credentials in; git-ignored, and it must be mode 0600):
   ``{"index": {"username": "...", "password": "..."}}``;
3. the URL itself (a password there works, but ``es config`` and ``es doctor`` warn).

The first that gives a password is merged into the index URL inside essay only
(:func:`apply`); from there it goes where the URL goes -- to pip/uv in the environment of
the install step on the hosts, never argv -- and is redacted wherever essay prints it.
The username, if none is given: the URL's, else ``essay`` (the embedded index's user).
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from essay.config.loader import STATE_DIR
from essay.config.reader import ConfigError

PASSWORD_VAR = "ESSAY_INDEX_PASSWORD"
USERNAME_VAR = "ESSAY_INDEX_USERNAME"
DEFAULT_USER = "essay"
IN_TOML = "essay.toml"   # Config.index_password when the password is in the URL itself


def credentials_file(root: Path) -> Path:
    return root / STATE_DIR / "credentials.json"


def url_has_password(url: str) -> bool:
    userinfo, at, _ = urlsplit(url).netloc.rpartition("@")
    return bool(at) and ":" in userinfo


def from_file(path: Path) -> tuple[str | None, str | None]:
    """(username, password) of the file's ``"index"`` object; (None, None) without one.
    A file others can read is refused: it would hold a password in the open."""
    try:
        data = json.loads(path.read_text())
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read it as JSON ({e}); expected "
                          '{"index": {"username": "...", "password": "..."}}') from None
    index = data.get("index") if isinstance(data, dict) else None
    if index is None:
        return None, None
    if not isinstance(index, dict) or not isinstance(index.get("password"), str) or \
            not isinstance(index.get("username", ""), str):
        raise ConfigError(f'{path}: "index" is not an object with a "password" string '
                          '(and optionally "username"); expected '
                          '{"index": {"username": "...", "password": "..."}}')
    if mode & 0o077:
        raise ConfigError(f"{path}: holds the index password but has mode {mode:04o}; "
                          f"expected 0600 (chmod 600 {path})")
    return index.get("username") or None, index["password"]


def find(root: Path, environ) -> tuple[str | None, str | None, str]:
    """(username, password, where from) outside git; (None, None, "") if none."""
    if environ.get(PASSWORD_VAR):
        return environ.get(USERNAME_VAR) or None, environ[PASSWORD_VAR], PASSWORD_VAR
    path = credentials_file(root)
    user, password = from_file(path)
    if password is not None:
        return user, password, f"{STATE_DIR}/{path.name}"
    return None, None, ""


def merged(url: str, username: str | None, password: str) -> str:
    """``url`` with ``username:password`` as its user info (percent-encoded)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if username is not None:
        user = quote(username, safe="")
    else:
        user = (userinfo.split(":", 1)[0] if at else "") or DEFAULT_USER
    netloc = f"{user}:{quote(password, safe='')}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def apply(cfg, environ=None):
    """``cfg`` with the index credentials from outside git merged into ``index_url``, and
    ``index_password`` saying where the password came from ("" if there is none)."""
    environ = os.environ if environ is None else environ
    user, password, source = find(cfg.root, environ)
    if password is None:
        return dataclasses.replace(
            cfg, index_password=IN_TOML if url_has_password(cfg.index_url) else "")
    return dataclasses.replace(cfg, index_url=merged(cfg.index_url, user, password),
                               index_password=source)


def toml_warning(cfg) -> str:
    """The warning for a password written in essay.toml ("" if there is none)."""
    if cfg.index_password != IN_TOML:
        return ""
    return (f"{cfg.path or 'essay.toml'}: [index] url holds a password, and essay.toml is "
            f"committed to git; move it out: {PASSWORD_VAR} in the environment, or "
            f'"index" in {STATE_DIR}/credentials.json (docs/secrets.md#the-index-password)')
