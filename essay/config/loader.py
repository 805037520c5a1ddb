"""Finding essay.toml (from a directory upward) and parsing it."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from essay.config.reader import ConfigError

if TYPE_CHECKING:
    from essay.config.schema import Config

FILENAME = "essay.toml"
STATE_DIR = ".essay"  # essay's local state in a project: credentials, index packages


def find(start: Path | None = None) -> Path | None:
    """The nearest essay.toml from ``start`` (default: the working directory) upward."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / FILENAME).is_file():
            return d / FILENAME
    return None


def load(start: Path | None = None, path: Path | None = None, env: str | None = None) -> Config:
    """Find, parse and validate essay.toml, with environment ``env`` (None: ``$ESSAY_ENV``,
    else ``default_env``) merged in (:mod:`essay.config.envs`), and the index's
    credentials from outside git merged into its URL (:mod:`essay.config.credentials`)."""
    given, path = path is not None, path or find(start)
    if path is None:
        raise ConfigError(f"no {FILENAME} in {start or Path.cwd()} or any parent directory; "
                          "run `es init` in your project, or `es create NAME` for a new one")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{'-c/--config ' if given else ''}{path}: cannot read it "
                          f"({e.strerror or e}); expected an existing, readable {FILENAME}") \
            from None
    from essay.config import credentials, envs
    from essay.config.schema import from_dict

    merged, chosen, known = envs.resolve(data, env, path)
    return credentials.apply(envs.apply(from_dict(merged, path), chosen, known))


