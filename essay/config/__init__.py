"""essay.toml: find it, parse it with tomllib, validate it, fill in the defaults.

Every key has a documented default (docs/configuration.md) except ``[project] name``.
A bad value raises :class:`ConfigError` naming the file, the key, what was found and
what was expected -- before any remote command runs.

The package, by part:

* :mod:`essay.config.loader` -- finding essay.toml upward and parsing it;
* :mod:`essay.config.reader` -- typed reads of one table, with errors that name the key;
* :mod:`essay.config.schema` -- :class:`Config`, every key with its default and checks;
* :mod:`essay.config.envs` -- ``[env.NAME]`` merged over the top level, and the choice;
* :mod:`essay.config.credentials` -- the index password from outside git (environment,
  ``.essay/credentials.json``) merged into the index URL;
* :mod:`essay.config.show` -- the resolved result as data for ``es config``, redacted.
"""
from essay.config.envs import ENV_VAR, require
from essay.config.loader import FILENAME, STATE_DIR, find, load
from essay.config.reader import ConfigError, redact_url, upload_url_for
from essay.config.schema import DEFAULT_INDEX, Config, from_dict
from essay.config.show import redacted

__all__ = ["ENV_VAR", "require", "FILENAME", "STATE_DIR", "DEFAULT_INDEX", "Config", "ConfigError", "find", "load",
           "from_dict", "redacted", "redact_url", "upload_url_for"]
