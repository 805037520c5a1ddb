"""The embedded index's upload credentials: an htpasswd file for user ``essay`` and
``.essay/credentials.json`` (0600) where ``es build`` finds them; never printed, logged or
put on a command line."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from essay.config import STATE_DIR

USER = "essay"


def credentials_path(cfg) -> Path:
    return cfg.root / STATE_DIR / "credentials.json"


def htpasswd_path(cfg) -> Path:
    return cfg.root / STATE_DIR / "htpasswd"


def _write_private(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def ensure_credentials(cfg) -> Path:
    """Create the htpasswd file and the saved credentials if there are none yet."""
    creds, htpasswd = credentials_path(cfg), htpasswd_path(cfg)
    if htpasswd.exists() and creds.exists():
        return htpasswd
    from passlib.apache import HtpasswdFile

    password = secrets.token_urlsafe(24)
    ht = HtpasswdFile(str(htpasswd), new=True, default_scheme="sha256_crypt")
    ht.set_password(USER, password)
    _write_private(htpasswd, ht.to_string().decode())
    try:   # keep what else the file holds (the index's download credentials, "index")
        data = json.loads(creds.read_text()) if creds.exists() else {}
    except ValueError:
        data = {}
    data = {**(data if isinstance(data, dict) else {}), "username": USER, "password": password}
    _write_private(creds, json.dumps(data) + "\n")
    return htpasswd


def saved_credentials(cfg) -> tuple[str | None, str | None]:
    """Twine's variables if set, else the embedded index's saved credentials (if any);
    (None, None) leaves the rest to twine (~/.pypirc, keyring)."""
    if os.environ.get("TWINE_USERNAME") or os.environ.get("TWINE_PASSWORD"):
        return os.environ.get("TWINE_USERNAME"), os.environ.get("TWINE_PASSWORD")
    path = credentials_path(cfg)
    if not path.exists():
        return None, None
    data = json.loads(path.read_text())
    return data.get("username"), data.get("password")


def _same_url(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return ((pa.scheme.lower(), pa.netloc.lower(), pa.path.rstrip("/"))
            == (pb.scheme.lower(), pb.netloc.lower(), pb.path.rstrip("/")))


def pypirc_repository(upload_url: str) -> str | None:
    """The ~/.pypirc section (listed in ``index-servers``) whose ``repository`` is
    ``upload_url``, if any. Twine ignores ~/.pypirc when it is given a URL, so ``es build``
    passes twine this section's name instead: its username, password and keyring apply."""
    from twine.utils import DEFAULT_CONFIG_FILE, get_config

    if not Path(os.path.expanduser(DEFAULT_CONFIG_FILE)).is_file():
        return None
    try:
        sections = get_config(DEFAULT_CONFIG_FILE)
    except Exception:   # a malformed file: twine's own error would not say more
        return None
    for name, section in sections.items():
        if section.get("repository") and _same_url(section["repository"], upload_url):
            return name
    return None
