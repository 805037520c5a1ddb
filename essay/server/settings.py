"""The ``[server]`` table of essay.toml, checked like every other table, and the
webhook secret (``ESSAY_WEBHOOK_SECRET`` or a 0600 file named by ``secret_file`` --
never a value in essay.toml)."""
from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from essay.config import STATE_DIR
from essay.config.reader import ConfigError, Reader

SECRET_VAR = "ESSAY_WEBHOOK_SECRET"
ROLES = ("viewer", "deployer", "admin")   # each may do what the ones before it may
KEYS = {"host", "port", "branch", "test", "environment", "flip", "queue", "secret_file",
        "workers", "stale_after"}


@dataclass(frozen=True)
class Settings:
    root: Path
    host: str
    port: int
    branch: str
    test: list[str]          # argv of the test command ([] = no tests)
    environment: str | None  # where a push deploys (None: the default environment)
    flip: bool
    queue: str               # "" = embedded SQLite queue; "redis://..." = Redis
    secret_file: Path | None
    workers: int             # jobs at once in the embedded worker
    stale_after: float       # seconds without a heartbeat before the server asks if its
                             # worker is gone (jobs.why_lost)

    @property
    def data_dir(self) -> Path:
        return self.root / STATE_DIR / "server"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'server.db'}"

    def secret(self) -> bytes | None:
        """The webhook secret, or None if none is configured."""
        value = os.environ.get(SECRET_VAR)
        if value:
            return value.encode()
        if self.secret_file is None:
            return None
        try:
            st = self.secret_file.stat()
        except OSError as e:
            raise ConfigError(f"[server] secret_file {str(self.secret_file)!r}: cannot read it "
                              f"({e.strerror})") from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise ConfigError(f"[server] secret_file {str(self.secret_file)!r} is mode "
                              f"{stat.S_IMODE(st.st_mode):04o}, expected 0600 (only its owner "
                              "may read it): chmod 600 it")
        return self.secret_file.read_bytes().strip() or None


def load(cfg) -> Settings:
    r = Reader(cfg.path, cfg.raw, "server", KEYS)
    port = r.get("port", int, 8070, "a port number")
    if not 1 <= port <= 65535:
        r.fail("port", port, "a port number from 1 to 65535")
    test = r.get("test", str, "", 'a command such as "python -m pytest -q"')
    try:
        argv = shlex.split(test)
    except ValueError as e:
        r.fail("test", test, f"a command line with balanced quotes ({e})")
    queue = r.get("queue", str, "", 'a Redis URL such as "redis://127.0.0.1:6379/0"')
    if queue and not queue.startswith(("redis://", "rediss://", "unix://")):
        r.fail("queue", queue, 'a Redis URL such as "redis://127.0.0.1:6379/0" (or no key: '
               "the embedded SQLite queue)")
    env = r.get("environment", str, "", "an environment name") or None
    names = getattr(cfg, "env_names", ()) or ()
    if env and names and env not in names:
        r.fail("environment", env, f"one of {', '.join(names)}")
    secret_file = r.get("secret_file", str, "", "a file path") or None
    workers = r.get("workers", int, 4, "a whole number from 1 to 64")
    if not 1 <= workers <= 64:
        r.fail("workers", workers, "a whole number from 1 to 64")
    return Settings(
        root=cfg.root, host=r.get("host", str, "127.0.0.1", "an address"), port=port,
        branch=r.get("branch", str, "main", "a branch name"), test=argv, environment=env,
        flip=r.get("flip", bool, False, "true or false"), queue=queue,
        secret_file=(cfg.root / Path(secret_file).expanduser()) if secret_file else None,
        workers=workers, stale_after=r.positive("stale_after", 15.0))
